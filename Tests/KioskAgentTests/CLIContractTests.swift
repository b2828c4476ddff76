import Foundation
import TestSupport
import XCTest

/// The CLI is a contract (ARCHITECTURE.md §3.1): its subcommands and flags are pinned here.
final class CLIContractTests: XCTestCase {
    func testIngestHelpNamesEveryContractFlag() throws {
        let help = try IngestFixtures.agent(["ingest", "--help"])
        XCTAssertEqual(help.status, 0)
        for flag in ["<source>", "--destination", "--patient-id", "--patient-name", "--birth-date", "--report",
                     "--state-dir", "--config", "--json", "--signatures", "--calling-ae"] {
            XCTAssertTrue(help.stdoutText.contains(flag), "ingest --help lacks \(flag):\n\(help.stdoutText)")
        }
        let top = try IngestFixtures.agent(["--help"])
        for subcommand in ["ingest", "inspect", "echo", "spool"] {
            XCTAssertTrue(top.stdoutText.contains(subcommand), "--help lacks \(subcommand): \(top.stdoutText)")
        }
        let spool = try IngestFixtures.agent(["spool", "--help"])
        XCTAssertTrue(spool.stdoutText.contains("list") && spool.stdoutText.contains("retry"), spool.stdoutText)
        let dir = try TestSupport.TemporaryDirectory("cli-spool")
        let empty = try IngestFixtures.agent(["spool", "list", "--state-dir", dir.path("state")])
        XCTAssertEqual(empty.status, 0, empty.stderrText)
        XCTAssertEqual(empty.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), "the spool is empty")
        // Nothing listens on the discard port here: echo says why and exits 1.
        let refused = try IngestFixtures.agent(["echo", "dicom://PACS@127.0.0.1:9", "--state-dir", dir.path("state")])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderrText.contains("cannot connect"), refused.stderrText)
        XCTAssertEqual(try IngestFixtures.agent(["echo", "archive:", "--state-dir", dir.path("state")]).status, 2)
        XCTAssertEqual(try IngestFixtures.agent(["--version"]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), "0.1.0")
    }

    func testInspectReportsVerdictsAndExitCode() throws {
        let files = try TestSupport.pydicomTestFiles().path
        let clean = try IngestFixtures.agent(["inspect", files + "/CT_small.dcm", "--json"])
        XCTAssertEqual(clean.status, 0, clean.stderrText)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: clean.stdout) as? [String: Any])
        XCTAssertEqual((json["files"] as? [[String: Any]])?.first?["verdict"] as? String, "disarmed", "TIFF preamble and padding removed")
        let parts = try XCTUnwrap((json["files"] as? [[String: Any]])?.first?["parts"] as? [[String: Any]])
        XCTAssertEqual(parts.first?["part"] as? String, "preamble")
        XCTAssertEqual(parts.first?["action"] as? String, "replaced")
        XCTAssertTrue(parts.contains { $0["part"] as? String == "frame 1" && ($0["checks"] as? [String])?.contains("clamav") == true }, "\(parts)")
        XCTAssertEqual(json["schema"] as? String, "kiosk-agent.report/1")

        let text = try IngestFixtures.agent(["inspect", files + "/CT_small.dcm"])
        XCTAssertTrue(text.stdoutText.contains("parts:"), text.stdoutText)
        XCTAssertTrue(text.stdoutText.contains("private block \"GEMS_IDEN_01\"") && text.stdoutText.contains("→ removed"), text.stdoutText)
        let broken = try IngestFixtures.agent(["inspect", files + "/MR_truncated.dcm"])
        XCTAssertEqual(broken.status, 3)
        XCTAssertTrue(broken.stdoutText.contains("structure.truncated"), broken.stdoutText)
    }

    func testInspectWalksDirectoriesAndWritesRebuilds() throws {
        let dir = try TestSupport.TemporaryDirectory("inspect-output")
        let files = try TestSupport.pydicomTestFiles()
        let input = dir.url.appendingPathComponent("in/nested")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        for name in ["CT_small.dcm", "MR_small.dcm", "MR_truncated.dcm"] {
            try FileManager.default.copyItem(at: files.appendingPathComponent(name), to: input.appendingPathComponent(name))
        }
        try FileManager.default.createSymbolicLink(atPath: input.appendingPathComponent("link.dcm").path,
                                                   withDestinationPath: files.appendingPathComponent("JPEG2000.dcm").path)
        let result = try IngestFixtures.agent(["inspect", dir.path("in"), "--output", dir.path("out"), "--json", "--state-dir", dir.path("state")])
        XCTAssertEqual(result.status, 3, "one file is truncated: \(result.stderrText)")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
        let paths = (json["files"] as? [[String: Any]] ?? []).compactMap { ($0["path"] as? String).map { URL(fileURLWithPath: $0).lastPathComponent } }
        XCTAssertEqual(paths, ["CT_small.dcm", "MR_small.dcm", "MR_truncated.dcm"], "sorted, symbolic links not followed")
        for name in ["CT_small.dcm", "MR_small.dcm"] {
            let rebuilt = [UInt8](try Data(contentsOf: dir.url.appendingPathComponent("out/nested/\(name)")))
            XCTAssertEqual(Array(rebuilt[128..<132]), Array("DICM".utf8))
            XCTAssertEqual(Array(rebuilt.prefix(128)), [UInt8](repeating: 0, count: 128))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path("out/nested/MR_truncated.dcm")), "rejected files are not written")
    }
}
