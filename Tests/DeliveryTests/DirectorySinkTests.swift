import Foundation
import TestSupport
import XCTest
@testable import Delivery

/// `inspect --output`: rebuilt files at their path on the medium, renamed into place on commit.
final class DirectorySinkTests: XCTestCase {
    private func instance(_ path: String, sop: String = "1.2.3.4.5") -> AdmittedInstance {
        var instance = AdmittedInstance(sopInstanceUID: sop, sopClassUID: "1.2.840.10008.5.1.4.1.1.2", transferSyntaxUID: "1.2.840.10008.1.2.1",
                                        studyInstanceUID: "1.2.3", seriesInstanceUID: "1.2.3.4", sessionID: "s1")
        instance.mediaPath = path
        return instance
    }

    private func stage(_ sink: any DeliverySink, _ row: AdmittedInstance, _ bytes: [UInt8]) throws -> StagedInstance {
        try sink.stage(row) { write in try bytes.withUnsafeBytes { try write($0) } }
    }

    func testEveryFileLandsAtItsPathOnlyOnCommit() throws {
        let dir = try TestSupport.TemporaryDirectory("directory-sink")
        let sink = try DirectorySink(root: dir.url.appendingPathComponent("out"))
        // The same UID twice is two files to look at, not a conflict.
        let a = try stage(sink, instance("series/a.dcm"), [1, 2, 3])
        let b = try stage(sink, instance("b.dcm"), [4])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("out/series/a.dcm")), "not visible before the commit")
        XCTAssertEqual(try sink.commit([a, b]), [.stored, .stored])
        XCTAssertEqual(try Data(contentsOf: dir.url.appendingPathComponent("out/series/a.dcm")), Data([1, 2, 3]))
        XCTAssertEqual(try Data(contentsOf: dir.url.appendingPathComponent("out/b.dcm")), Data([4]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path("out/series")), ["a.dcm"], "no temporary files left")

        let dropped = try stage(sink, instance("c.dcm"), [5])
        sink.discard([dropped])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path("out")).sorted(), ["b.dcm", "series"])

        for bad in ["", "../escape.dcm", "a/../../escape.dcm", "./x"] {
            XCTAssertThrowsError(try stage(sink, instance(bad), [0]), bad)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("escape.dcm")))
    }

    func testTheDiscardSinkKeepsNothing() throws {
        let dir = try TestSupport.TemporaryDirectory("discard-sink")
        let sink = DiscardSink(root: dir.url)
        let staged = try stage(sink, instance("a.dcm"), [1, 2, 3])
        XCTAssertEqual(staged.bytes.size, 3)
        XCTAssertEqual(try sink.commit([staged]), [.stored])
        sink.discard([staged])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.url.path), [])
    }
}
