import Foundation
import TestSupport
import XCTest

/// `inspect` reads each argument in the sandboxed media helper, as `ingest` reads a medium: shown
/// from outside with the helper's fault hooks (`KIOSK_AGENT_HELPER_FAULT`, debug builds).
final class InspectSandboxTests: XCTestCase {
    private func files(_ result: TestSupport.ToolResult) throws -> [[String: Any]] {
        try XCTUnwrap((JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])?["files"] as? [[String: Any]], result.stderrText)
    }

    private func codes(_ file: [String: Any]) -> [String] {
        (file["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
    }

    /// A file argument is the helper's whole medium: the file beside it is out of its reach, and
    /// the file is still taken apart and rebuilt there.
    func testAFileArgumentIsReadInTheSandboxWithoutItsSiblings() throws {
        let dir = try TestSupport.TemporaryDirectory("inspect-sandbox")
        let samples = try TestSupport.pydicomTestFiles()
        for name in ["CT_small.dcm", "MR_small.dcm"] {
            try FileManager.default.copyItem(at: samples.appendingPathComponent(name), to: dir.url.appendingPathComponent(name))
        }
        let sibling = dir.path("MR_small.dcm")
        let result = try IngestFixtures.agent(["inspect", dir.path("CT_small.dcm"), "--json"],
                                              environment: ["KIOSK_AGENT_HELPER_FAULT": "read:\(sibling)@CT_small.dcm"])
        XCTAssertTrue(result.stderrText.contains("fault read \(sibling): refused (errno 13)"), "the helper ran the fault: \(result.stderrText)")
        XCTAssertFalse(result.stderrText.contains("ALLOWED"), result.stderrText)
        XCTAssertEqual(result.status, 0, result.stderrText)
        let file = try XCTUnwrap(try files(result).first)
        XCTAssertEqual(file["path"] as? String, dir.path("CT_small.dcm"), "named as given")
        XCTAssertEqual(file["verdict"] as? String, "disarmed")
        XCTAssertEqual(file["delivery"] as? String, "none", "inspect delivers nothing")
        let parts = file["parts"] as? [[String: Any]] ?? []
        XCTAssertTrue(parts.contains { $0["action"] as? String == "kept" }, "every part is listed, kept ones too")
        XCTAssertEqual(try files(result).count, 1)
    }

    /// A helper that crashes or stalls fails its own argument with a clear finding; the arguments
    /// before and after it are still inspected, and the exit status says something was refused.
    func testAHelperThatCrashesOrStallsFailsOnlyItsArgument() throws {
        let dir = try TestSupport.TemporaryDirectory("inspect-faults")
        let samples = try TestSupport.pydicomTestFiles()
        try FileManager.default.createDirectory(atPath: dir.path("series"), withIntermediateDirectories: true)
        for (name, target) in [("CT_small.dcm", "first.dcm"), ("MR_small.dcm", "CRASHME.dcm"), ("CT_small.dcm", "series/a.dcm"),
                               ("MR_small.dcm", "series/b.dcm"), ("CT_small.dcm", "last.dcm")] {
            try FileManager.default.copyItem(at: samples.appendingPathComponent(name), to: dir.url.appendingPathComponent(target))
        }
        try "[sandbox]\nstall_seconds = 3\n".write(toFile: dir.path("kiosk.toml"), atomically: true, encoding: .utf8)
        let arguments = ["inspect", dir.path("first.dcm"), dir.path("CRASHME.dcm"), dir.path("series"), dir.path("last.dcm"),
                         "--config", dir.path("kiosk.toml"), "--json"]
        for (fault, code, words) in [("crash@CRASHME.dcm", "media.helper-crashed", "SIGSEGV"),
                                     ("hang@CRASHME.dcm", "media.helper-timeout", "no progress for 3 s")] {
            let started = Date()
            let result = try IngestFixtures.agent(arguments, environment: ["KIOSK_AGENT_HELPER_FAULT": fault])
            XCTAssertEqual(result.status, 3, "\(fault): \(result.stderrText)")
            let records = try files(result)
            XCTAssertEqual(records.compactMap { $0["path"] as? String },
                           [dir.path("first.dcm"), dir.path("CRASHME.dcm"), dir.path("series/a.dcm"), dir.path("series/b.dcm"),
                            dir.path("last.dcm")], "\(fault): in argument order")
            let failed = records[1]
            XCTAssertEqual(failed["verdict"] as? String, "rejected", fault)
            let finding = try XCTUnwrap((failed["findings"] as? [[String: Any]])?.first { $0["code"] as? String == code }, "\(fault): \(failed)")
            let detail = finding["detail"] as? String ?? ""
            XCTAssertTrue(detail.contains(words) && detail.contains("CRASHME.dcm"), "\(fault): \(detail)")
            for record in [records[0], records[2], records[3], records[4]] {
                XCTAssertTrue(["clean", "disarmed"].contains(record["verdict"] as? String ?? ""), "\(fault): \(record)")
                XCTAssertFalse(codes(record).contains { $0.hasPrefix("media.helper") }, "\(fault): \(record)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(started), 40, "\(fault) is stopped promptly")
        }
        // Text: the failed argument says why, in the same map.
        let text = try IngestFixtures.agent(Array(arguments.dropLast()), environment: ["KIOSK_AGENT_HELPER_FAULT": "crash@CRASHME.dcm"])
        XCTAssertEqual(text.status, 3)
        XCTAssertTrue(text.stdoutText.contains("\(dir.path("CRASHME.dcm")): rejected\n  [critical] media.helper-crashed: the media reader crashed (SIGSEGV)"),
                      text.stdoutText)
        XCTAssertTrue(text.stdoutText.contains("\(dir.path("last.dcm")): disarmed"), text.stdoutText)
    }

    /// `--output` writes each rebuilt file at its path relative to its argument, and nothing is
    /// left in the state directory or beside the rebuilt files.
    func testOutputHoldsOnlyTheRebuiltFiles() throws {
        let dir = try TestSupport.TemporaryDirectory("inspect-output-only")
        let samples = try TestSupport.pydicomTestFiles()
        try FileManager.default.createDirectory(atPath: dir.path("in/deep"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: samples.appendingPathComponent("CT_small.dcm"), to: dir.url.appendingPathComponent("in/deep/ct.dcm"))
        try FileManager.default.copyItem(at: samples.appendingPathComponent("MR_small.dcm"), to: dir.url.appendingPathComponent("mr.dcm"))
        try FileManager.default.copyItem(at: samples.appendingPathComponent("MR_truncated.dcm"), to: dir.url.appendingPathComponent("in/bad.dcm"))
        let result = try IngestFixtures.agent(["inspect", dir.path("in") + "/", dir.path("mr.dcm"), "--output", dir.path("out"),
                                               "--state-dir", dir.path("state")])
        XCTAssertEqual(result.status, 3, result.stderrText)
        XCTAssertTrue(result.stdoutText.hasPrefix("\(dir.path("in"))/bad.dcm: rejected"), result.stdoutText)
        XCTAssertTrue(result.stdoutText.contains("\n\(dir.path("in"))/deep/ct.dcm: disarmed"), result.stdoutText)
        let written = FileManager.default.enumerator(atPath: dir.path("out"))?.compactMap { $0 as? String }.sorted() ?? []
        XCTAssertEqual(written, ["deep", "deep/ct.dcm", "mr.dcm"], "rebuilt files only, no temporary ones")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("state")), "inspect keeps nothing in the state directory")
    }
}
