import Analytics
import Foundation
import PortalCore
import PortalProtocol
import PortalStore
import PortalTestSupport
import SessionReport
import XCTest

/// What a kiosk's requests leave for the console's fleet view: the session summary its manifest forwards (once, however
/// often the manifest is replayed), and when and from where the kiosk was last seen.
final class KioskAnalyticsTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    func testTheForwardedSummaryAndLastSeenAreRecorded() async throws {
        let server = try await CoreTestServer(test: self)
        let kiosk = try server.client("a")
        addTeardownBlock { try? await kiosk.shutdown() }
        let session = "s-" + UUID().uuidString.prefix(8)
        let sent = (1...2).map { TestInstance.random("1.2.826.0.1.77.\($0)") }
        for instance in sent { try await kiosk.upload(instance, session: session) }

        var report = Report(source: .init(path: "/media/cdrom", filesystem: "iso9660", label: "STUDY"))
        report.sessionID = session
        report.startedAt = "2026-03-05T08:00:00.000Z"
        report.finishedAt = "2026-03-05T08:00:04.000Z"
        var study = Study(studyInstanceUID: "1.2.3", patientName: "Doe^Jane", patientID: "P1", birthDate: "19800101", description: "CT",
                          modalities: ["CT"], instances: 2, identity: .match, series: 1)
        study.institutions = ["Clinic X"]
        report.studies = [study]
        let manifest = try KioskManifest(kiosk: kiosk.name, session: session, operatorName: "op1", report: try ReportDocument(report),
                                         instances: sent.map { .init(sopInstanceUID: $0.uid, sha256: $0.sha256, size: Int64($0.bytes.count)) },
                                         analytics: try JSONDocument(encoding: SessionSummary(report, exit: 0))).encoded()
        let stored = try await kiosk.putManifest(manifest, session: session)
        XCTAssertEqual(stored.status, 201, stored.body)
        let replay = try await kiosk.putManifest(manifest, session: session)
        XCTAssertEqual(replay.status, 200, replay.body)

        await assertEqual(try await server.count("""
            SELECT count(*)::int FROM session_summaries s JOIN batches b ON b.id = s.batch JOIN kiosks k ON k.id = s.kiosk
            WHERE k.name = \(kiosk.name) AND b.kiosk_session = \(session) AND s.source = 'kiosk' AND s.day = '2026-03-05'
              AND s.institutions = '{Clinic X}' AND s.checked IS NULL AND (s.summary->>'instances')::int = 2
            """), 1)
        let analytics = try await FleetAnalytics(server.database).report(
            try AnalyticsFilter(from: "2026-03-05", to: "2026-03-05", facility: nil, kiosk: kiosk.name, source: "kiosk"))
        XCTAssertEqual(analytics.statistics.sessions, 1)
        XCTAssertEqual(analytics.statistics.seconds, 4, accuracy: 0.001)
        XCTAssertEqual(analytics.uncheckedSessions, 1)

        // Off the requests' path: the row is written by a task of its own.
        let seen = try await eventually(10) {
            try await server.count("""
                SELECT count(*)::int FROM kiosks WHERE name = \(kiosk.name) AND last_seen_at > now() - interval '1 minute'
                  AND last_address = '127.0.0.1'
                """) == 1
        }
        XCTAssertTrue(seen, "the kiosk's last_seen_at and last_address")
    }
}
