import Foundation
import Uploads
import XCTest

final class UploadRegistryTests: XCTestCase {
    func testRecordsRoundTripMoveAndExpire() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try FileUploadRegistry(directory: directory)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let record = UploadRecord(id: .random(), batch: "b1", owner: UploadOwner("alice"), length: 10,
                                  metadata: [MetadataEntry(key: "filename", value: Data("a.dcm".utf8)),
                                             MetadataEntry(key: "flag", value: nil)],
                                  expires: start.addingTimeInterval(60))
        try await registry.create(record)
        do {
            try await registry.create(record)
            XCTFail("registered one id twice")
        } catch RegistryError.alreadyExists {}
        let loaded = try await registry.get(record.id)
        XCTAssertEqual(loaded, record)

        try await registry.setOffset(record.id, offset: 4, expires: start.addingTimeInterval(120))
        let moved = try await registry.get(record.id)
        XCTAssertEqual(moved?.offset, 4)
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(directory)/\(record.id.rawValue).json")
        XCTAssertEqual(attributes[.posixPermissions] as? Int, 0o600, "a record is private to the service")
        let notYet = try await registry.expired(at: start.addingTimeInterval(100))
        XCTAssertEqual(notYet, [])
        let expired = try await registry.expired(at: start.addingTimeInterval(120))
        XCTAssertEqual(expired.map(\.id), [record.id])

        try await registry.delete(record.id)
        try await registry.delete(record.id)
        let gone = try await registry.get(record.id)
        XCTAssertNil(gone)
        do {
            try await registry.setOffset(record.id, offset: 5, expires: start)
            XCTFail("moved a deleted upload")
        } catch RegistryError.notFound {}
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), [], "temporary files left behind")
    }
}
