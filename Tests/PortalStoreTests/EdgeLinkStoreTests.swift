import Credentials
import Crypto
import Foundation
import PortalStore
import PostgresNIO
import XCTest
import PortalTestSupport

/// Schema v4 and what core keeps for the edge link: invitations (only the token's SHA-256), pushes, edge batches taken
/// once, results, and edge events taken into the audit chain once each.
final class EdgeLinkStoreTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    private func patient(_ database: PortalDatabase, email: String? = nil) async throws -> Int64 {
        let id = UUID().uuidString.prefix(12)
        return try await PatientRegistry(database).add(
            RegisteredPatient(patientID: String(id), issuer: "H", name: "Doe^Jane", birthDate: "19700101",
                              email: email ?? "jane-\(id.lowercased())@example.org"), actor: "test")
    }

    private func count(_ database: PortalDatabase, _ sql: PostgresQuery) async throws -> Int {
        var value = 0
        for try await row in try await database.client.query(sql).decode(Int.self) { value = row }
        return value
    }

    private func refuses(_ database: PortalDatabase, _ sql: PostgresQuery, file: StaticString = #filePath, line: UInt = #line) async {
        do {
            try await database.client.query(sql)
            XCTFail("the database accepted it", file: file, line: line)
        } catch {}
    }

    func testSchemaConstrainsTheLinkColumns() async throws {
        let database = try await migratedDatabase(for: self)
        let ref = try await patient(database)
        await refuses(database, "INSERT INTO invitations (patient, token_sha256, expires_at) VALUES (\(ref), '\\x00'::bytea, now() + interval '1 hour')")
        await refuses(database, """
            INSERT INTO invitations (patient, token_sha256, expires_at) VALUES (\(ref), decode(repeat('00', 32), 'hex'), now() - interval '1 hour')
            """)
        // A kiosk batch has no edge batch; an edge batch id is taken once.
        let kiosk = "desk-" + UUID().uuidString.prefix(8).lowercased()
        try await KioskRegistry(database).add(name: kiosk, serial: UUID().uuidString, fingerprint: UUID().uuidString, actor: "test")
        let kioskBatch = try await BatchStore(database).kioskBatch(kiosk: kiosk, session: "s")
        await refuses(database, "UPDATE batches SET edge_batch = \(UUID()) WHERE id = \(kioskBatch.id)")
        await refuses(database, "UPDATE batches SET result_pushed_at = now() WHERE id = \(kioskBatch.id)")
        let edge = UUID()
        let first = try await BatchStore(database).createPatientBatch(patient: ref, edgeBatch: edge)
        let second = try await BatchStore(database).createPatientBatch(patient: ref, edgeBatch: edge)
        XCTAssertEqual(first, second)
        await assertEqual(try await count(database, "SELECT count(*)::int FROM batches WHERE edge_batch = \(edge)"), 1)
        await refuses(database, "INSERT INTO edge_events (single, last_seq) VALUES (false, 1)")
    }

    func testAnInvitationKeepsOnlyTheTokensDigestAndReplacesTheLiveOne() async throws {
        let database = try await migratedDatabase(for: self)
        let ref = try await patient(database)
        let store = InvitationStore(database)
        let first = try await store.issue(patient: ref, lifetime: 72 * 3600, actor: "cli:staff")
        XCTAssertEqual(first.token.count, 22)
        XCTAssertTrue(first.token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }, first.token)
        XCTAssertEqual(first.invitation.expiresAt.timeIntervalSinceNow, 72 * 3600, accuracy: 120)
        var stored: Data?
        for try await digest in try await database.client.query("SELECT token_sha256 FROM invitations WHERE id = \(first.invitation.id)").decode(Data.self) {
            stored = digest
        }
        XCTAssertEqual(stored, Data(try XCTUnwrap(OneTimeToken(parsing: first.token)).digest))
        let second = try await store.issue(patient: ref, lifetime: 3600, actor: "cli:staff")
        XCTAssertEqual(second.replaced, first.invitation.id)
        XCTAssertNotEqual(second.token, first.token)
        await assertEqual(try await store.live(patient: ref)?.id, second.invitation.id)
        await assertEqual(try await count(database, "SELECT count(*)::int FROM invitations WHERE patient = \(ref) AND revoked_at IS NOT NULL"), 1)
        do {
            _ = try await store.issue(patient: -5, lifetime: 3600, actor: "cli:staff")
            XCTFail("an invitation for nobody")
        } catch let error as InvitationError {
            XCTAssertEqual(error, .unknownPatient(-5))
        }
        // The audit chain says what happened, never the token or the address.
        var details: [String] = []
        for try await detail in try await database.client.query("SELECT detail::text FROM audit WHERE event_type LIKE 'invitation.%'").decode(String.self) {
            details.append(detail)
        }
        XCTAssertFalse(details.isEmpty)
        for detail in details {
            XCTAssertFalse(detail.contains(first.token) || detail.contains(second.token) || detail.contains("@"), detail)
        }
        await assertEqual(try await AuditLog(database).verify(), .intact(records: try await count(database, "SELECT count(*)::int FROM audit")))
    }

    func testPatientsArePushedWhenInvitedOrChangedAndUnlocksOnce() async throws {
        let database = try await migratedDatabase(for: self)
        let link = EdgeLinkStore(database)
        let invited = try await patient(database)
        let uninvited = try await patient(database)    // registered, never invited: not the edge's business
        let issued = try await InvitationStore(database).issue(patient: invited, lifetime: 3600, actor: "test")
        var pending = try await link.patientsToPush().filter { $0.ref == invited }
        XCTAssertEqual(pending.count, 1)
        XCTAssertEqual(pending.first?.invitation?.id, issued.invitation.id)
        XCTAssertEqual(pending.first?.invitation?.tokenSHA256, Data(try XCTUnwrap(OneTimeToken(parsing: issued.token)).digest))
        await assertFalse(try await link.patientsToPush().contains { $0.ref == uninvited }, "only invited patients go to the edge")
        try await link.patientPushed(try XCTUnwrap(pending.first))
        await assertFalse(try await link.patientsToPush().contains { $0.ref == invited })

        // A changed address goes again, without the invitation the edge already has.
        try await PatientRegistry(database).setEmail(id: invited, email: "new-\(invited)@example.org", actor: "test")
        pending = try await link.patientsToPush().filter { $0.ref == invited }
        XCTAssertEqual(pending.count, 1)
        XCTAssertNil(pending.first?.invitation)
        XCTAssertEqual(pending.first?.email, "new-\(invited)@example.org")
        try await link.patientPushed(try XCTUnwrap(pending.first))
        await assertFalse(try await link.patientsToPush().contains { $0.ref == invited })

        try await InvitationStore(database).request(.unlock, patient: invited, actor: "test")
        let unlocks = try await link.toPush(.unlock)
        XCTAssertEqual(unlocks.map(\.patient), [invited])
        // A second request made after the first was read stays for the next poll.
        try await Task.sleep(for: .milliseconds(5))
        try await InvitationStore(database).request(.unlock, patient: invited, actor: "test")
        try await link.pushed(.unlock, patient: invited, requestedAt: try XCTUnwrap(unlocks.first).requestedAt)
        await assertEqual(try await link.toPush(.unlock).count, 1)
        let newer = try await link.toPush(.unlock)
        try await link.pushed(.unlock, patient: invited, requestedAt: try XCTUnwrap(newer.first).requestedAt)
        await assertEqual(try await link.toPush(.unlock).count, 0)
    }

    func testAnEdgeBatchIsCommittedOnceWithItsUploadsAndJob() async throws {
        let database = try await migratedDatabase(for: self)
        let link = EdgeLinkStore(database)
        let ref = try await patient(database)
        let edge = UUID()
        let record = try await link.takeBatch(edgeBatch: edge, patient: ref)
        await assertEqual(try await link.takeBatch(edgeBatch: edge, patient: ref), record)
        XCTAssertEqual(record.batch.state, "open")
        let digest = String(repeating: "ab", count: 32)
        let rows = (0..<3).map { index in
            EdgeUploadRow(id: String(format: "%032x", index + 1 + Int(ref) * 16), length: 100,
                          metadataJSON: #"[{"key":"relativePath","value":"YQ=="}]"#, sha256: digest)
        }
        let committed = try await link.commit(record, edgeBatch: edge, uploads: rows)
        XCTAssertTrue(committed)
        let again = try await link.commit(record, edgeBatch: edge, uploads: rows)
        XCTAssertFalse(again, "a batch is committed once")
        await assertEqual(try await count(database, "SELECT count(*)::int FROM jobs WHERE batch = \(record.batch.id)"), 1)
        await assertEqual(try await count(database, """
            SELECT count(*)::int FROM uploads WHERE batch = \(record.batch.id) AND state = 'complete' AND "offset" = length
            """), 3)
        await assertEqual(try await link.batch(edgeBatch: edge)?.batch.state, "committed")

        // Finished by a worker: its result is due once.
        try await database.client.query("UPDATE batches SET state = 'delivered', report = '{}', processed_at = now() WHERE id = \(record.batch.id)")
        let due = try await link.resultsToPush().filter { $0.edgeBatch == edge }
        XCTAssertEqual(due.map(\.state), ["delivered"])
        try await link.resultPushed(batch: record.batch.id, state: "delivered")
        await assertEqual(try await link.resultsToPush().filter { $0.edgeBatch == edge }.count, 0)
    }

    func testMismatchesAreCountedAndAFailedBatchHasAResult() async throws {
        let database = try await migratedDatabase(for: self)
        let link = EdgeLinkStore(database)
        let edge = UUID()
        let record = try await link.takeBatch(edgeBatch: edge, patient: try await patient(database))
        await assertEqual(try await link.recordMismatch(record, edgeBatch: edge, upload: "u1", reason: "digest"), 1)
        await assertEqual(try await link.recordMismatch(record, edgeBatch: edge, upload: "u1", reason: "digest"), 2)
        try await link.fail(record, edgeBatch: edge, reason: "the files did not arrive intact after 2 tries")
        let due = try await link.resultsToPush().filter { $0.edgeBatch == edge }
        XCTAssertEqual(due.first?.state, "failed")
        XCTAssertEqual(due.first?.problems, ["the files did not arrive intact after 2 tries"])
        XCTAssertNil(due.first?.reportJSON)
        let committed = try await link.commit(record, edgeBatch: edge, uploads: [])
        XCTAssertFalse(committed, "a failed batch is not committed")
    }

    func testEdgeEventsAreTakenInOrderOnce() async throws {
        let database = try await migratedDatabase(for: self)
        let link = EdgeLinkStore(database)
        let start = try await link.lastEvent()
        let events = (1...3).map { EdgeEvent(seq: start + Int64($0), at: "2026-01-01T00:00:0\($0)Z", type: "signin.failed", patient: "7",
                                              address: "192.0.2.1", detail: .object(["method": .string("totp")])) }
        await assertEqual(try await link.take(Array(events.reversed())), start + 3)
        // The same page again (the cursor's update was not heard): nothing is taken twice.
        await assertEqual(try await link.take(events), start + 3)
        await assertEqual(try await link.lastEvent(), start + 3)
        var seqs: [Int64] = []
        for try await (actor, detail) in try await database.client.query("""
            SELECT actor, detail::text FROM audit WHERE event_type = 'edge.signin.failed' ORDER BY seq
            """).decode((String, String).self) {
            XCTAssertEqual(actor, "edge")
            if case .object(let fields) = try JSONValue.parse(detail), case .integer(let seq) = fields["seq"] { seqs.append(seq) }
        }
        XCTAssertEqual(seqs, events.map(\.seq))
        await assertEqual(try await AuditLog(database).verify(), .intact(records: try await count(database, "SELECT count(*)::int FROM audit")))
    }
}
