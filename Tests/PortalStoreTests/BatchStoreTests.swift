import Foundation
import PortalStore
import PostgresNIO
import XCTest
import PortalTestSupport

final class BatchStoreTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    private func store() async throws -> (PortalDatabase, BatchStore, String) {
        let database = try await migratedDatabase(for: self)
        let kiosk = "desk-" + UUID().uuidString.prefix(8).lowercased()
        try await KioskRegistry(database).add(name: kiosk, serial: UUID().uuidString, fingerprint: UUID().uuidString, actor: "test")
        return (database, BatchStore(database), kiosk)
    }

    private let digest = { (n: Int) in String(repeating: String(format: "%02x", n), count: 32) }

    /// A complete (or not) upload of one instance in the batch, as the upload registry writes it.
    private func upload(_ database: PortalDatabase, batch: UUID, uid: String, sha256: String, complete: Bool = true) async throws -> String {
        let id = UUID().uuidString
        try await database.client.query("""
            INSERT INTO uploads (id, batch, owner, length, "offset", sop_instance_uid, sha256, expires_at)
            VALUES (\(id), \(batch), 'kiosk:x', 10, \(complete ? 10 : 3), \(uid), \(sha256), now() + interval '1 hour')
            """)
        return id
    }

    private func count(_ database: PortalDatabase, _ sql: PostgresQuery) async throws -> Int {
        var value = 0
        for try await row in try await database.client.query(sql).decode(Int.self) { value = row }
        return value
    }

    func testConcurrentCallersGetOneBatchPerKioskSession() async throws {
        let (database, batches, kiosk) = try await store()
        let made = try await withThrowingTaskGroup(of: Batch.self) { group in
            for _ in 0..<8 { group.addTask { try await batches.kioskBatch(kiosk: kiosk, session: "s-1") } }
            var all: [Batch] = []
            for try await batch in group { all.append(batch) }
            return all
        }
        XCTAssertEqual(Set(made.map(\.id)).count, 1)
        XCTAssertEqual(Set(made.map(\.stagingKey)).count, 1)
        XCTAssertEqual(made[0].stagingKey.count, 32)
        XCTAssertEqual(made[0].state, "open")
        let other = try await batches.kioskBatch(kiosk: kiosk, session: "s-2")
        XCTAssertNotEqual(other.id, made[0].id)
        XCTAssertNotEqual(other.stagingKey, made[0].stagingKey)
        await assertEqual(try await batches.findKioskBatch(kiosk: kiosk, session: "s-1")?.id, made[0].id)
        await assertNil(try await batches.findKioskBatch(kiosk: kiosk, session: "s-3"))
        await assertEqual(try await count(database, "SELECT count(*)::int FROM batches WHERE kiosk_session = 's-1'"), 1)
        do {
            _ = try await batches.kioskBatch(kiosk: "nobody", session: "s-1")
            XCTFail("a batch for an unknown kiosk")
        } catch let error as BatchError {
            XCTAssertEqual(error, .unknownKiosk("nobody"))
        }
    }

    func testAManifestIsStoredOnceAndAReplayIsRecognised() async throws {
        let (database, batches, kiosk) = try await store()
        let batch = try await batches.kioskBatch(kiosk: kiosk, session: "s")
        let instances = [ManifestInstance(sopInstanceUID: "1.2.3", sha256: digest(1))]
        await assertEqual(try await batches.storeManifest(batch: batch.id, manifest: Data("m1".utf8), signature: "sig", instances: instances, actor: "kiosk:\(kiosk)"), .stored)
        await assertEqual(try await batches.storeManifest(batch: batch.id, manifest: Data("m1".utf8), signature: "sig", instances: instances, actor: "kiosk:\(kiosk)"), .alreadyStored)
        await assertEqual(try await batches.storeManifest(batch: batch.id, manifest: Data("m2".utf8), signature: "sig", instances: instances, actor: "kiosk:\(kiosk)"), .conflict)
        await assertEqual(try await count(database, "SELECT count(*)::int FROM audit WHERE event_type = 'manifest.stored' AND detail->>'batch' = \(batch.id.uuidString.lowercased())"), 1)
        await assertEqual(try await batches.progress(batch: batch.id), BatchProgress(state: "open", expected: 1, received: 0))
    }

    /// The rule: the manifest and, for each instance it lists, a complete upload with the same UID and digest.
    func testCommitWaitsForTheManifestAndEveryInstance() async throws {
        let (database, batches, kiosk) = try await store()
        let batch = try await batches.kioskBatch(kiosk: kiosk, session: "s")
        _ = try await upload(database, batch: batch.id, uid: "1.1", sha256: digest(1))
        await assertFalse(try await batches.commitIfComplete(batch: batch.id, actor: "t"), "committed without a manifest")
        await assertEqual(try await batches.progress(batch: batch.id), BatchProgress(state: "open", expected: nil, received: 1))

        let instances = [ManifestInstance(sopInstanceUID: "1.1", sha256: digest(1)), ManifestInstance(sopInstanceUID: "1.2", sha256: digest(2))]
        _ = try await batches.storeManifest(batch: batch.id, manifest: Data("m".utf8), signature: "s", instances: instances, actor: "t")
        _ = try await upload(database, batch: batch.id, uid: "1.2", sha256: digest(3))
        let partial = try await upload(database, batch: batch.id, uid: "1.2", sha256: digest(2), complete: false)
        await assertFalse(try await batches.commitIfComplete(batch: batch.id, actor: "t"), "a wrong digest or a partial upload counted")
        await assertEqual(try await batches.progress(batch: batch.id), BatchProgress(state: "open", expected: 2, received: 1))

        try await database.client.query("UPDATE uploads SET \"offset\" = length WHERE id = \(partial)")
        await assertTrue(try await batches.commitIfComplete(batch: batch.id, actor: "kiosk:\(kiosk)"))
        await assertFalse(try await batches.commitIfComplete(batch: batch.id, actor: "t"), "committed twice")
        await assertEqual(try await batches.progress(batch: batch.id), BatchProgress(state: "committed", expected: 2, received: 2))
        await assertEqual(try await count(database, "SELECT count(*)::int FROM jobs WHERE kind = 'protect' AND batch = \(batch.id)"), 1)
        await assertEqual(try await count(database, "SELECT count(*)::int FROM audit WHERE event_type = 'batch.committed' AND detail->>'batch' = \(batch.id.uuidString.lowercased())"), 1)
        await assertEqual(try await count(database, "SELECT count(*)::int FROM batches WHERE id = \(batch.id) AND committed_at IS NOT NULL"), 1)
        let job = try await JobQueue(database).claim(worker: "w", kinds: [BatchStore.protectJobKind], lease: 30)
        XCTAssertEqual(job?.batch, batch.id)
        XCTAssertEqual(try JSONValue.parse(job?.payloadJSON ?? ""), .object(["batch": .string(batch.id.uuidString.lowercased())]))
        await assertEqual(try await AuditLog(database).verify(), .intact(records: try await count(database, "SELECT count(*)::int FROM audit")))
    }

    /// Many last completions at once: the row lock lets exactly one commit.
    func testConcurrentCompletionsCommitOnce() async throws {
        let (database, batches, kiosk) = try await store()
        let batch = try await batches.kioskBatch(kiosk: kiosk, session: "s")
        let instances = (1...6).map { ManifestInstance(sopInstanceUID: "1.\($0)", sha256: digest($0)) }
        _ = try await batches.storeManifest(batch: batch.id, manifest: Data("m".utf8), signature: "s", instances: instances, actor: "t")
        for instance in instances {
            _ = try await upload(database, batch: batch.id, uid: instance.sopInstanceUID, sha256: instance.sha256)
        }
        let commits = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 { group.addTask { try await batches.commitIfComplete(batch: batch.id, actor: "t") } }
            var committed = 0
            for try await didCommit in group where didCommit { committed += 1 }
            return committed
        }
        XCTAssertEqual(commits, 1)
        await assertEqual(try await count(database, "SELECT count(*)::int FROM jobs WHERE batch = \(batch.id)"), 1)
    }

    func testAPatientBatchHasItsOwnKey() async throws {
        let (database, batches, _) = try await store()
        var patient: Int64 = 0
        for try await id in try await database.client.query("""
            INSERT INTO patients (patient_id, issuer, name, birth_date) VALUES (\(UUID().uuidString), 'H', 'Doe^Jane', '19700101') RETURNING id
            """).decode(Int64.self) { patient = id }
        let batch = try await batches.createPatientBatch(patient: patient)
        XCTAssertEqual(batch.stagingKey.count, 32)
        await assertEqual(try await batches.batch(batch.id), batch)
        do {
            _ = try await batches.createPatientBatch(patient: -1)
            XCTFail("a batch for no patient")
        } catch let error as BatchError {
            XCTAssertEqual(error, .unknownPatient(-1))
        }
    }

    func testRevocationIsLookedUpBySerialAndUnknownSerialsAreRefused() async throws {
        let (database, _, _) = try await store()
        let kiosks = KioskRegistry(database)
        let name = "desk-" + UUID().uuidString.prefix(8).lowercased()
        let serial = "ab" + UUID().uuidString.prefix(8).lowercased()
        try await kiosks.add(name: name, serial: serial, fingerprint: UUID().uuidString, actor: "test")
        await assertFalse(try await kiosks.isRevoked(serial: serial))
        await assertTrue(try await kiosks.isRevoked(serial: "not-issued"))
        await assertEqual(try await kiosks.revoke(name: name, actor: "test"), serial)
        await assertTrue(try await kiosks.isRevoked(serial: serial))
        do {
            try await kiosks.revoke(name: "nobody", actor: "test")
            XCTFail("revoked a kiosk that does not exist")
        } catch let error as KioskRecordError {
            XCTAssertEqual(error, .unknown("nobody"))
        }
    }
}
