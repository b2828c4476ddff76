import Foundation
import TestSupport
import XCTest
@testable import Delivery

final class ArchiveTests: XCTestCase {
    private func instance(_ sop: String) -> AdmittedInstance {
        AdmittedInstance(sopInstanceUID: sop, sopClassUID: "1.2.840.10008.5.1.4.1.1.2", transferSyntaxUID: "1.2.840.10008.1.2.1",
                         studyInstanceUID: "1.2.3", seriesInstanceUID: "1.2.3.4", patientID: "P1", patientName: "Doe^Jane",
                         birthDate: "19700101", modality: "CT", studyDate: "20260101", studyDescription: "Head",
                         sourceSHA256: "bb", sessionID: "s1")
    }

    private func stage(_ archive: Archive, _ row: AdmittedInstance, _ bytes: [UInt8]) throws -> StagedInstance {
        try archive.stage(row) { sink in try bytes.withUnsafeBytes { try sink($0) } }
    }

    func testStoresOncePerSOPInstanceAndDetectsConflicts() throws {
        let dir = try TestSupport.TemporaryDirectory("archive")
        let archive = try Archive(root: dir.url)
        let first = try stage(archive, instance("1.2.3.4.5"), [1, 2, 3])
        XCTAssertEqual(try archive.commit([first]), [.stored])
        let stored = try XCTUnwrap(try archive.instance("1.2.3.4.5"))
        XCTAssertEqual(stored.path, "1.2.3/1.2.3.4/1.2.3.4.5.dcm")
        XCTAssertEqual(try Data(contentsOf: dir.url.appendingPathComponent(stored.path)), Data([1, 2, 3]))

        // Same instance again (re-ingest), and a different file under the same UID.
        let again = try stage(archive, instance("1.2.3.4.5"), [1, 2, 3])
        let other = try stage(archive, instance("1.2.3.4.5"), [9, 9])
        let outcomes = try archive.commit([again, other])
        XCTAssertEqual(outcomes.first, .alreadyPresent)
        XCTAssertEqual(outcomes.last, .conflict(existingSHA256: stored.sha256))
        XCTAssertEqual(try archive.instances().count, 1)
        XCTAssertEqual(try Data(contentsOf: dir.url.appendingPathComponent(stored.path)), Data([1, 2, 3]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path(".incoming")), [])
    }

    func testDuplicateWithinOneBatch() throws {
        let dir = try TestSupport.TemporaryDirectory("archive")
        let archive = try Archive(root: dir.url)
        let a = try stage(archive, instance("1.2.3.9"), [1])
        let b = try stage(archive, instance("1.2.3.9"), [1])
        XCTAssertEqual(try archive.commit([a, b]), [.stored, .alreadyPresent])
    }

    func testRejectsUIDsThatAreNotSafeFileNames() throws {
        let dir = try TestSupport.TemporaryDirectory("archive")
        let archive = try Archive(root: dir.url)
        for bad in ["../../etc", "1.2..3", "", "1.2.3/4", "1.2.3.a", String(repeating: "1", count: 65)] {
            XCTAssertThrowsError(try stage(archive, instance(bad), [0]), bad)
        }
        // A zero-led component breaks PS3.5 but is digits and dots: delivered unchanged, stored as is.
        XCTAssertNoThrow(try stage(archive, instance("1.02.3"), [0]))
    }

    /// Opening the archive drops what an ended writer left in `.incoming` (an agent killed
    /// mid-session) and keeps what a live one is about to publish (the service, while `spool list`
    /// or a CLI ingest opens the same state directory).
    func testLeftoversOfAnInterruptedSessionAreDroppedAndALiveWritersFilesKept() throws {
        let dir = try TestSupport.TemporaryDirectory("archive")
        let archive = try Archive(root: dir.url)
        let live = try stage(archive, instance("1.2.3.7"), [5])
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        XCTAssertTrue(FileManager.default.createFile(atPath: dir.path(".incoming/\(ended.processIdentifier)-interrupted"), contents: Data([1])))
        _ = try Archive(root: dir.url)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path(".incoming")), [live.bytes.temporary.lastPathComponent])
        XCTAssertEqual(try archive.commit([live]), [.stored])
    }
}
