import AuditTrail
import Foundation
import PortalCore
import PortalProtocol
import PortalStore
import PortalTestSupport
import SessionReport
import TestSupport
import XCTest

/// The session's trail segment in the manifest, through a real core: checked against the kiosk's pinned audit key
/// and recorded, and a segment that fails is visible without holding the batch back.
final class KioskTrailFlowTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    private var server: CoreTestServer!

    override func setUp() async throws {
        server = try await CoreTestServer(test: self)
    }

    private func manifest(_ kiosk: KioskClient, session: String, instance: TestInstance, trail: [String], key: String?) throws -> Data {
        let report = try ReportDocument(Report(source: .init(path: "/media/cdrom", filesystem: "iso9660", label: "STUDY")))
        return try KioskManifest(kiosk: kiosk.name, session: session, operatorName: "op1", report: report,
                                 instances: [.init(sopInstanceUID: instance.uid, sha256: instance.sha256, size: Int64(instance.bytes.count))],
                                 trail: trail, auditKey: key).encoded()
    }

    private func verifiedSegments(session: String) async throws -> Int {
        try await server.count("""
            SELECT count(*)::int FROM kiosk_audit a JOIN batches b ON b.id = a.batch
            WHERE b.kiosk_session = \(session) AND a.outcome = 'verified'
            """)
    }

    func testSignedSegmentsAreVerifiedAndAFailedOneDoesNotHoldTheBatch() async throws {
        let kiosk = try server.client("a")
        addTeardownBlock { try? await kiosk.shutdown() }
        let trailDirectory = try TestSupport.TemporaryDirectory("kiosk-trail")
        let log = try AuditTrail.AuditLog(directory: trailDirectory.url)

        let session = "s-" + UUID().uuidString.prefix(8)
        let instance = TestInstance.random("1.2.826.0.1.7.1")
        try await kiosk.upload(instance, session: session)
        let lines = try log.append([AuditTrail.AuditEvent(.sessionStart, actor: "op1", session: session),
                                    AuditTrail.AuditEvent(.sessionEnd, actor: "op1", session: session)], checkpoint: true)
        let stored = try await kiosk.putManifest(try manifest(kiosk, session: session, instance: instance, trail: lines, key: log.publicKeyText),
                                                 session: session)
        XCTAssertEqual(stored.status, 201, stored.body)
        await assertEqual(try await verifiedSegments(session: session), 1)

        // An altered segment: the manifest is taken and the batch committed all the same; the failure is recorded.
        let next = "s-" + UUID().uuidString.prefix(8)
        let other = TestInstance.random("1.2.826.0.1.7.2")
        try await kiosk.upload(other, session: next)
        var altered = try log.append([AuditTrail.AuditEvent(.sessionEnd, actor: "op1", session: next)], checkpoint: true)
        altered[0] = altered[0].replacingOccurrences(of: "op1", with: "op2")
        let taken = try await kiosk.putManifest(try manifest(kiosk, session: next, instance: other, trail: altered, key: log.publicKeyText),
                                                session: next)
        XCTAssertEqual(taken.status, 201, taken.body)
        await assertEqual(try await server.batchState(kiosk: kiosk.name, session: next), "committed")
        await assertEqual(try await server.count("""
            SELECT count(*)::int FROM audit WHERE event_type = 'kiosk.trail-failed' AND detail->>'kiosk' = \(kiosk.name)
            """), 1)
        await assertEqual(try await PortalStore.AuditLog(server.database).verify(), .intact(records: try await server.count("SELECT count(*)::int FROM audit")))
    }
}
