import AuditTrail
import Foundation
import PortalProtocol
import PortalStore
import PortalTestSupport
import PostgresNIO
import SessionReport
import TestSupport
import XCTest

/// A real kiosk trail (the agent's `AuditLog`, its Ed25519 key and checkpoints) writing the segments a session's
/// manifest carries, checked by core against real PostgreSQL: verified, unsigned, and every way of tampering failing
/// with the problem that names it.
final class KioskTrailTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    /// A kiosk with its own trail directory, registered in the portal.
    private struct Kiosk {
        let name: String
        let trail: TestSupport.TemporaryDirectory
        let log: AuditTrail.AuditLog

        /// One session's lines as IngestJob writes them: its events, then the signed checkpoint.
        func session(_ id: String, events: Int = 3) throws -> [String] {
            try log.append((0..<events).map { AuditTrail.AuditEvent(.importStudy, actor: "alice", session: id, details: ["n": String($0)]) },
                           checkpoint: true)
        }

        var key: String? { log.publicKeyText }
    }

    private func kiosk(_ database: PortalDatabase) async throws -> Kiosk {
        let name = "kiosk-" + UUID().uuidString.prefix(8).lowercased()
        try await KioskRegistry(database).add(name: name, serial: UUID().uuidString, fingerprint: UUID().uuidString, actor: "test")
        let trail = try TestSupport.TemporaryDirectory("kiosk-trail")
        return Kiosk(name: name, trail: trail, log: try AuditTrail.AuditLog(directory: trail.url))
    }

    private func batch(_ database: PortalDatabase, _ kiosk: Kiosk) async throws -> UUID {
        try await BatchStore(database).kioskBatch(kiosk: kiosk.name, session: "s-" + UUID().uuidString.prefix(8)).id
    }

    private func pinned(_ database: PortalDatabase, _ kiosk: Kiosk) async throws -> (String?, Int64?) {
        for try await row in try await database.client.query("SELECT audit_public_key, audit_last_seq FROM kiosks WHERE name = \(kiosk.name)",
                                                             logger: database.logger).decode((String?, Int64?).self) { return row }
        return (nil, nil)
    }

    func testSignedSegmentsVerifyPinTheKeyAndMoveTheSequenceForward() async throws {
        let database = try await migratedDatabase(for: self)
        let kiosk = try await self.kiosk(database)
        try kiosk.log.append([AuditTrail.AuditEvent(.serviceStart, actor: "service")], checkpoint: true)
        let lines = try kiosk.session("s1")
        XCTAssertEqual(lines.count, 4, "three events and the checkpoint")
        let trails = KioskTrails(database)
        let first = try await batch(database, kiosk)
        let verdict = try await trails.record(batch: first, kiosk: kiosk.name, trail: lines, auditKey: kiosk.key)
        XCTAssertEqual(verdict, KioskTrailVerdict(outcome: .verified, firstSeq: 3, lastSeq: 6, checkpointSeq: 6))
        let (key, last) = try await pinned(database, kiosk)
        XCTAssertEqual(key, kiosk.key)
        XCTAssertEqual(last, 6)

        // The next session, with service records in between (not in any segment), verifies too.
        try kiosk.log.append([AuditTrail.AuditEvent(.operatorSignIn, actor: "bob")])
        let second = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name, trail: try kiosk.session("s2"),
                                             auditKey: kiosk.key)
        XCTAssertEqual(second.outcome, .verified)
        XCTAssertEqual(second.firstSeq, 8)

        // A replayed manifest gets the verdict made the first time, and no second record.
        let again = try await trails.record(batch: first, kiosk: kiosk.name, trail: ["garbage"], auditKey: nil)
        XCTAssertEqual(again, verdict)
        let records = try await AuditSearch(database).page(AuditQuery(kiosk: kiosk.name, typePrefix: "kiosk.trail"))
        XCTAssertEqual(records.records.map(\.eventType), [PortalStore.AuditEvent.kioskTrailVerified, PortalStore.AuditEvent.kioskTrailVerified])
        XCTAssertEqual(records.records.first?.detail, .object([
            "kiosk": .string(kiosk.name), "batch": .string(first.uuidString.lowercased()), "first_seq": .integer(3), "last_seq": .integer(6),
        ]))
        let summary = try await trails.summary().first { $0.kiosk == kiosk.name }
        XCTAssertEqual(summary?.verified, 2)
        XCTAssertEqual(summary?.failed, 0)
        XCTAssertEqual(summary?.lastVerifiedSeq, 11)
    }

    func testOldKiosksAndUnsignedTrailsAreRecordedUnsigned() async throws {
        let database = try await migratedDatabase(for: self)
        let kiosk = try await self.kiosk(database)
        let trails = KioskTrails(database)
        let none = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name, trail: nil, auditKey: nil)
        XCTAssertEqual(none.outcome, .unsigned)
        // A trail whose writer had no key (a read-only copy) has no checkpoint and no key to tie it to the kiosk.
        let unsigned = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name,
                                               trail: Array(try kiosk.session("s1").dropLast()), auditKey: nil)
        XCTAssertEqual(unsigned.outcome, .unsigned)
        let records = try await AuditSearch(database).page(AuditQuery(kiosk: kiosk.name, typePrefix: "kiosk.trail"))
        XCTAssertEqual(records.records.map(\.eventType), [PortalStore.AuditEvent.kioskTrailUnsigned, PortalStore.AuditEvent.kioskTrailUnsigned])
        let (key, _) = try await pinned(database, kiosk)
        XCTAssertNil(key, "nothing verified, nothing pinned")
    }

    func testEveryTamperingFailsWithItsProblemAndIsVisible() async throws {
        let database = try await migratedDatabase(for: self)
        let trails = KioskTrails(database)

        // Altered: one character of a record's JSON.
        var kiosk = try await self.kiosk(database)
        var lines = try kiosk.session("s1")
        lines[1] = lines[1].replacingOccurrences(of: "alice", with: "mallo")
        var verdict = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name, trail: lines, auditKey: kiosk.key)
        XCTAssertEqual(verdict.outcome, .failed)
        XCTAssertEqual(verdict.problem, "\(KioskTrailProblem.altered(line: 2))")

        // Removed: a record from the middle.
        kiosk = try await self.kiosk(database)
        lines = try kiosk.session("s1")
        lines.remove(at: 1)
        verdict = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name, trail: lines, auditKey: kiosk.key)
        XCTAssertEqual(verdict.problem, "\(KioskTrailProblem.sequenceGap(line: 2, found: 3, expected: 2))")

        // Removed: the checkpoint, from a kiosk that signs.
        kiosk = try await self.kiosk(database)
        verdict = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name, trail: Array(try kiosk.session("s1").dropLast()),
                                          auditKey: kiosk.key)
        XCTAssertEqual(verdict.outcome, .failed)
        XCTAssertEqual(verdict.problem, "the segment does not end with a signed checkpoint")

        // Wrong key: the segment is signed by one key, the manifest names another.
        kiosk = try await self.kiosk(database)
        let other = try await self.kiosk(database)
        verdict = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name, trail: try kiosk.session("s1"),
                                          auditKey: other.key)
        XCTAssertEqual(verdict.problem, "\(KioskTrailProblem.badSignature(seq: 4))")
        let (unpinned, _) = try await pinned(database, kiosk)
        XCTAssertNil(unpinned, "a failed segment pins nothing")

        // Key changed later: the first key is pinned; a new trail with its own key is refused, not re-pinned.
        kiosk = try await self.kiosk(database)
        verdict = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name, trail: try kiosk.session("s1"), auditKey: kiosk.key)
        XCTAssertEqual(verdict.outcome, .verified)
        let replacement = try TestSupport.TemporaryDirectory("kiosk-trail")
        let newLog = try AuditTrail.AuditLog(directory: replacement.url)
        let newLines = try newLog.append([AuditTrail.AuditEvent(.importStudy, actor: "alice", session: "s2")], checkpoint: true)
        verdict = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name, trail: newLines, auditKey: newLog.publicKeyText)
        XCTAssertEqual(verdict.outcome, .failed)
        XCTAssertTrue(verdict.problem?.contains("audit key changed") ?? false, verdict.problem ?? "")
        let (stillPinned, _) = try await pinned(database, kiosk)
        XCTAssertEqual(stillPinned, kiosk.key)

        // Replayed: an older, genuine segment sent again under another batch.
        kiosk = try await self.kiosk(database)
        let old = try kiosk.session("s1")
        _ = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name, trail: old, auditKey: kiosk.key)
        _ = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name, trail: try kiosk.session("s2"), auditKey: kiosk.key)
        verdict = try await trails.record(batch: try await batch(database, kiosk), kiosk: kiosk.name, trail: old, auditKey: kiosk.key)
        XCTAssertEqual(verdict.outcome, .failed)
        XCTAssertEqual(verdict.problem, "records 1...4 are not past record 8, the last verified: an older segment was sent again")

        // Each failure is in the audit table, naming kiosk, batch and problem, and in the summary.
        let failed = try await AuditSearch(database).page(AuditQuery(typePrefix: PortalStore.AuditEvent.kioskTrailFailed))
        XCTAssertEqual(failed.records.count, 6)
        XCTAssertTrue(failed.records.allSatisfy { record in
            guard case .object(let detail) = record.detail else { return false }
            return detail["kiosk"] != nil && detail["batch"] != nil && detail["problem"] != nil
        })
        let summary = try await trails.summary().first { $0.kiosk == kiosk.name }
        XCTAssertEqual(summary?.verified, 2)
        XCTAssertEqual(summary?.failed, 1)
        XCTAssertEqual(summary?.lastVerifiedSeq, 8)
    }

    /// The manifest carries the segment and key additively: an old manifest (no trail) still decodes, unchanged.
    func testTheManifestCarriesTheTrailAdditively() throws {
        let report = try ReportDocument(Report(source: .init(path: "/media/cdrom", filesystem: "iso9660", label: "STUDY")))
        let old = KioskManifest(kiosk: "k", session: "s1", operatorName: "cli", report: report, instances: [])
        let oldBytes = try old.encoded()
        XCTAssertFalse(String(decoding: oldBytes, as: UTF8.self).contains("trail"))
        XCTAssertNil(try KioskManifest.decode(oldBytes).trail)
        var new = old
        new.trail = ["abc {\"seq\":1}"]
        new.auditKey = "AAAA"
        let decoded = try KioskManifest.decode(try new.encoded())
        XCTAssertEqual(decoded.trail, new.trail)
        XCTAssertEqual(decoded.auditKey, "AAAA")
    }
}
