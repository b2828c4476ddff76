import Foundation
import TestSupport
import XCTest

/// The CLI is a contract (ARCHITECTURE.md §3.1): its subcommands and flags are pinned here.
final class CLIContractTests: XCTestCase {
    func testIngestHelpNamesEveryContractFlag() throws {
        let help = try IngestFixtures.agent(["ingest", "--help"])
        XCTAssertEqual(help.status, 0)
        for flag in ["<source>", "--destination", "--patient-id", "--patient-name", "--birth-date", "--report",
                     "--state-dir", "--config", "--json", "--signatures"] {
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
}

