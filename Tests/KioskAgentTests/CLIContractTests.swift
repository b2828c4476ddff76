import Foundation
import TestSupport
import XCTest

/// The CLI is a contract (ARCHITECTURE.md §3.1): its subcommands and flags are pinned here.
final class CLIContractTests: XCTestCase {
    func testIngestHelpNamesEveryContractFlag() throws {
        let help = try IngestFixtures.agent(["ingest", "--help"])
        XCTAssertEqual(help.status, 0)
        for flag in ["<source>", "--destination", "--patient-id", "--patient-name", "--birth-date", "--report",
                     "--state-dir", "--config", "--json"] {
            XCTAssertTrue(help.stdoutText.contains(flag), "ingest --help lacks \(flag):\n\(help.stdoutText)")
        }
        let top = try IngestFixtures.agent(["--help"])
        XCTAssertTrue(top.stdoutText.contains("ingest") && top.stdoutText.contains("inspect"), top.stdoutText)
        XCTAssertEqual(try IngestFixtures.agent(["--version"]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), "0.1.0")
    }

    func testInspectReportsVerdictsAndExitCode() throws {
        let files = try TestSupport.pydicomTestFiles().path
        let clean = try IngestFixtures.agent(["inspect", files + "/CT_small.dcm", "--json"])
        XCTAssertEqual(clean.status, 0, clean.stderrText)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: clean.stdout) as? [String: Any])
        XCTAssertEqual((json["files"] as? [[String: Any]])?.first?["verdict"] as? String, "disarmed", "TIFF preamble and padding removed")
        let broken = try IngestFixtures.agent(["inspect", files + "/MR_truncated.dcm"])
        XCTAssertEqual(broken.status, 3)
        XCTAssertTrue(broken.stdoutText.contains("structure.truncated"), broken.stdoutText)
    }
}

