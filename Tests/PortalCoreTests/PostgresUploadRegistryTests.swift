import Foundation
import PortalCore
import PortalStore
import PostgresNIO
import Uploads
import XCTest
import PortalTestSupport

/// The `UploadRegistry` contract as UploadsTests checks it on `FileUploadRegistry`, on the uploads table.
final class PostgresUploadRegistryTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    private func registryAndBatch() async throws -> (PortalDatabase, PostgresUploadRegistry, String) {
        let database = try await migratedDatabase(for: self)
        let kiosk = "desk-" + UUID().uuidString.prefix(8).lowercased()
        try await KioskRegistry(database).add(name: kiosk, serial: UUID().uuidString, fingerprint: UUID().uuidString, actor: "test")
        let batch = try await BatchStore(database).kioskBatch(kiosk: kiosk, session: "s")
        return (database, PostgresUploadRegistry(database), batch.id.uuidString.lowercased())
    }

    func testRecordsRoundTripMoveAndExpire() async throws {
        let (database, registry, batch) = try await registryAndBatch()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let record = UploadRecord(id: .random(), batch: batch, owner: UploadOwner("kiosk:alice"), length: 10,
                                  metadata: [MetadataEntry(key: "filename", value: Data("a.dcm".utf8)),
                                             MetadataEntry(key: "flag", value: nil),
                                             MetadataEntry(key: "sop-instance-uid", value: Data("1.2.3".utf8)),
                                             MetadataEntry(key: "sha256", value: Data(String(repeating: "AB", count: 32).utf8)),
                                             MetadataEntry(key: "binary", value: Data([0xff, 0x00, 0xfe]))],
                                  expires: start.addingTimeInterval(60))
        try await registry.create(record)
        do {
            try await registry.create(record)
            XCTFail("registered one id twice")
        } catch RegistryError.alreadyExists(let id) {
            XCTAssertEqual(id, record.id)
        }
        let loaded = try await registry.get(record.id)
        XCTAssertEqual(loaded, record)
        // The commit rule's columns: the UID as sent, the digest in lower case.
        for try await (uid, sha256, owner) in try await database.client.query("""
            SELECT sop_instance_uid, sha256, owner FROM uploads WHERE id = \(record.id.rawValue)
            """).decode((String?, String?, String).self) {
            XCTAssertEqual(uid, "1.2.3")
            XCTAssertEqual(sha256, String(repeating: "ab", count: 32))
            XCTAssertEqual(owner, "kiosk:alice")
        }

        try await registry.setOffset(record.id, offset: 4, expires: start.addingTimeInterval(120))
        let moved = try await registry.get(record.id)
        XCTAssertEqual(moved?.offset, 4)
        XCTAssertEqual(moved?.expires, start.addingTimeInterval(120))
        let notYet = try await registry.expired(at: start.addingTimeInterval(100))
        XCTAssertFalse(notYet.contains { $0.id == record.id })
        let expired = try await registry.expired(at: start.addingTimeInterval(120))
        XCTAssertTrue(expired.contains { $0.id == record.id })

        // A complete upload never expires.
        try await registry.setOffset(record.id, offset: 10, expires: start.addingTimeInterval(120))
        let complete = try await registry.expired(at: start.addingTimeInterval(1_000_000))
        XCTAssertFalse(complete.contains { $0.id == record.id })

        try await registry.delete(record.id)
        try await registry.delete(record.id)
        let gone = try await registry.get(record.id)
        XCTAssertNil(gone)
        do {
            try await registry.setOffset(record.id, offset: 5, expires: start)
            XCTFail("moved a deleted upload")
        } catch RegistryError.notFound(let id) {
            XCTAssertEqual(id, record.id)
        }
    }

    func testABatchMustBeABatchOfTheDatabase() async throws {
        let (_, registry, _) = try await registryAndBatch()
        let record = UploadRecord(id: .random(), batch: "batch-alice", owner: UploadOwner("alice"), length: 1, metadata: [], expires: Date())
        do {
            try await registry.create(record)
            XCTFail("an upload joined a batch that is not a UUID")
        } catch let error as PostgresUploadRegistryError {
            XCTAssertEqual(error, .batchIsNotAUUID)
        }
        let orphan = UploadRecord(id: .random(), batch: UUID().uuidString.lowercased(), owner: UploadOwner("alice"), length: 1,
                                  metadata: [], expires: Date())
        do {
            try await registry.create(orphan)
            XCTFail("an upload joined a batch that does not exist")
        } catch let error as PSQLError {
            XCTAssertEqual(error.serverInfo?[.sqlState], "23503")
        }
    }
}
