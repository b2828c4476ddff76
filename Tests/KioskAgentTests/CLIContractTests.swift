import AuditTrail
import Foundation
import SessionReport
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
        for subcommand in ["ingest", "inspect", "echo", "spool", "run", "operator", "config", "audit", "stats", "dashboard", "receipt"] {
            XCTAssertTrue(top.stdoutText.contains(subcommand), "--help lacks \(subcommand): \(top.stdoutText)")
        }
        let audit = try IngestFixtures.agent(["audit", "--help"])
        for verb in ["verify", "export", "forward"] { XCTAssertTrue(audit.stdoutText.contains(verb), audit.stdoutText) }
        let receipt = try IngestFixtures.agent(["receipt", "--help"])
        XCTAssertTrue(receipt.stdoutText.contains("show") && receipt.stdoutText.contains("print"), receipt.stdoutText)
        let spool = try IngestFixtures.agent(["spool", "--help"])
        XCTAssertTrue(spool.stdoutText.contains("list") && spool.stdoutText.contains("retry"), spool.stdoutText)
        let dir = try TestSupport.TemporaryDirectory("cli-spool")
        try FileManager.default.createDirectory(atPath: dir.path("state"), withIntermediateDirectories: true)
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

    /// A program is named for what it is, not taken apart as a broken DICOM file; a path that does
    /// not exist is a usage error.
    func testInspectNamesWhatIsNotDICOMAndAMissingPathIsAUsageError() throws {
        let dir = try TestSupport.TemporaryDirectory("inspect-not-dicom")
        let program = dir.path("viewer.exe")
        try Data(IngestFixtures.inertPE()).write(to: URL(fileURLWithPath: program))
        let text = try IngestFixtures.agent(["inspect", program])
        XCTAssertEqual(text.status, 3, "not delivered: \(text.stderrText)")
        XCTAssertEqual(text.stdoutText, "\(program): a Windows program (PE), not a DICOM file; it would not be imported\n")
        let json = try IngestFixtures.agent(["inspect", program, "--json"])
        let file = try XCTUnwrap((JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])?["files"] as? [[String: Any]]).first
        XCTAssertEqual(file?["verdict"] as? String, "discarded")
        XCTAssertEqual(file?["kind"] as? String, "executable")
        let codes = (file?["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
        XCTAssertEqual(codes, ["executable.discarded"], "no DICOM structure findings for a program")
        try Data().write(to: URL(fileURLWithPath: dir.path("empty.dcm")))
        XCTAssertTrue(try IngestFixtures.agent(["inspect", dir.path("empty.dcm")]).stdoutText.contains("an empty file, not a DICOM file"))

        let missing = try IngestFixtures.agent(["inspect", "/nonexistent/kiosk-inspect.dcm"])
        XCTAssertEqual(missing.status, 2, missing.stderrText)
        XCTAssertTrue(missing.stderrText.contains("no such file or directory: /nonexistent/kiosk-inspect.dcm"), missing.stderrText)
        XCTAssertFalse(missing.stdoutText.contains("rejected"), missing.stdoutText)
    }

    /// Commands that read the state directory name it, and say so when it does not exist instead
    /// of answering "nothing" from the wrong place.
    func testCommandsNameTheStateDirectoryAndRefuseOneThatDoesNotExist() throws {
        let dir = try TestSupport.TemporaryDirectory("cli-state")
        let missing = dir.path("missing")
        for arguments in [["stats"], ["receipt", "show", "7K3QX-M9P2D"], ["spool", "list"], ["audit", "verify"], ["audit", "export"],
                          ["operator", "list"], ["dashboard", "--port", "0"]] {
            let result = try IngestFixtures.agent(arguments + ["--state-dir", missing])
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderrText)")
            XCTAssertTrue(result.stderrText.contains("state directory: \(missing) (from --state-dir)"), "\(arguments): \(result.stderrText)")
            XCTAssertTrue(result.stderrText.contains("the state directory \(missing) does not exist"), "\(arguments): \(result.stderrText)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "\(arguments) created it")
        }
        // From the environment, and an existing (empty) one: named, and an honest empty answer.
        let state = dir.path("state")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let stats = try IngestFixtures.agent(["stats"], environment: ["KIOSK_AGENT_STATE_DIR": state])
        XCTAssertEqual(stats.status, 0, stats.stderrText)
        XCTAssertEqual(stats.stderrText, "state directory: \(state) (from $KIOSK_AGENT_STATE_DIR)\n")
        let receipt = try IngestFixtures.agent(["receipt", "show", "7K3QX-M9P2D", "--state-dir", state])
        XCTAssertEqual(receipt.status, 1)
        XCTAssertTrue(receipt.stderrText.contains("no receipt for 7K3QX-M9P2D in \(state)/receipts"), receipt.stderrText)
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

/// Provisioning commands IT runs: operators and the configuration check.
final class ProvisioningCLITests: XCTestCase {
    func testOperatorAddListRemoveWithThePINOnStdin() throws {
        let dir = try TestSupport.TemporaryDirectory("cli-operators")
        let pinFile = dir.path("pin")
        try Data("402918\n".utf8).write(to: URL(fileURLWithPath: pinFile))
        let add = try TestSupport.run("/bin/sh", ["-c", "\"$0\" operator add 'Front Desk 1' --state-dir \"$1\" < \"$2\"",
                                                  TestSupport.productsDirectory.appendingPathComponent("kiosk-agent").path,
                                                  dir.path("state"), pinFile], check: false)
        XCTAssertEqual(add.status, 0, add.stderrText)
        XCTAssertTrue(add.stdoutText.contains("otpauth://totp/kiosk-agent:Front%20Desk%201?secret="), add.stdoutText)
        let list = try IngestFixtures.agent(["operator", "list", "--state-dir", dir.path("state")])
        XCTAssertTrue(list.stdoutText.hasPrefix("Front Desk 1  added "), list.stdoutText)
        XCTAssertFalse(list.stdoutText.contains("402918"))
        let weak = try TestSupport.run("/bin/sh", ["-c", "echo 123456 | \"$0\" operator add bob --state-dir \"$1\"",
                                                   TestSupport.productsDirectory.appendingPathComponent("kiosk-agent").path,
                                                   dir.path("state")], check: false)
        XCTAssertEqual(weak.status, 2)
        XCTAssertTrue(weak.stderrText.contains("PIN refused"), weak.stderrText)
        XCTAssertEqual(try IngestFixtures.agent(["operator", "remove", "Front Desk 1", "--state-dir", dir.path("state")]).status, 0)
        XCTAssertEqual(try IngestFixtures.agent(["operator", "remove", "Front Desk 1", "--state-dir", dir.path("state")]).status, 2)
    }

    func testConfigCheckNamesEveryProblem() throws {
        let dir = try TestSupport.TemporaryDirectory("cli-config")
        let shipped = TestSupport.packageRoot.appendingPathComponent("config/kiosk-agent.toml").path
        let good = try IngestFixtures.agent(["config", "check", "--config", shipped, "--state-dir", dir.path("state")])
        XCTAssertEqual(good.status, 0, good.stderrText)
        XCTAssertTrue(good.stdoutText.contains("valid"), good.stdoutText)
        let syntax = dir.path("syntax.toml")
        try Data("[delivery]\nassociations = 99\n".utf8).write(to: URL(fileURLWithPath: syntax))
        let bad = try IngestFixtures.agent(["config", "check", "--config", syntax])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderrText.contains("line 2: delivery.associations must be an integer in 1...32"), bad.stderrText)
        let files = dir.path("files.toml")
        try Data("""
            destination = "dicoms://PACS@pacs.example:2762"
            [tls]
            ca_file = "/nonexistent/ca.pem"
            [engines]
            signatures = ["/nonexistent/sigs"]
            [atna]
            repository = "syslog://audit.example"

            """.utf8).write(to: URL(fileURLWithPath: files))
        let missing = try IngestFixtures.agent(["config", "check", "--config", files])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderrText.contains("[tls]") && missing.stderrText.contains("/nonexistent/sigs"), missing.stderrText)
        XCTAssertTrue(missing.stderrText.contains("[atna] repository: unknown scheme syslog"), missing.stderrText)
    }
}

/// The audit trail an ingest leaves, checked and tampered with through the CLI.
final class AuditCLITests: XCTestCase {
    func testIngestIsAuditedAndTamperingIsNamed() throws {
        let dir = try TestSupport.TemporaryDirectory("cli-audit")
        _ = try TestSupport.pydicomTestFiles()
        let tree = try IngestFixtures.makeTree(in: dir)
        let state = dir.path("state")
        let run = try IngestFixtures.agent(["ingest", try IngestFixtures.iso(tree, in: dir), "--state-dir", state, "--patient-id", "X-1",
                                            "--override-identity", "checked by phone with the sending hospital"])
        XCTAssertNotEqual(run.status, 2, run.stderrText)
        let verify = try IngestFixtures.agent(["audit", "verify", "--state-dir", state])
        XCTAssertEqual(verify.status, 0, verify.stderrText)
        XCTAssertTrue(verify.stdoutText.contains("audit trail intact"), verify.stdoutText)
        let export = try IngestFixtures.agent(["audit", "export", "--since", "2000-01-01", "--state-dir", state])
        for type in ["session.start", "identity.decision", "identity.override", "finding", "session.end", "audit.checkpoint"] {
            XCTAssertTrue(export.stdoutText.contains("\"type\":\"\(type)\""), "\(type) missing:\n\(export.stdoutText.prefix(2000))")
        }
        XCTAssertTrue(export.stdoutText.contains("checked by phone"), "the override reason is recorded")
        // An auditor's edit of one record: verify names it and exits 1.
        let file = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: "\(state)/audit").first { $0.hasSuffix(".jsonl") })
        let path = "\(state)/audit/\(file)"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "checked by phone", with: "checked by email").write(toFile: path, atomically: true, encoding: .utf8)
        let tampered = try IngestFixtures.agent(["audit", "verify", "--state-dir", state])
        XCTAssertEqual(tampered.status, 1)
        XCTAssertTrue(tampered.stderrText.contains("\(file):") && tampered.stderrText.contains("altered"), tampered.stderrText)
    }
}

/// What the README promises about the scripts stays true of the scripts.
final class RepositoryDocumentationTests: XCTestCase {
    /// The fuzz targets the README names are those fuzz/Package.swift declares (and scripts/fuzz runs).
    func testTheREADMENamesEveryFuzzTarget() throws {
        let manifest = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("fuzz/Package.swift"), encoding: .utf8)
        let declared = Set(manifest.matches(of: /executableTarget\(name: "(Fuzz[A-Za-z0-9]+)"/).map { String($0.1) })
        XCTAssertGreaterThanOrEqual(declared.count, 10, manifest)
        let readme = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try XCTUnwrap(readme.components(separatedBy: "### Fuzzing").dropFirst().first?.components(separatedBy: "\n### ").first)
        let named = Set(section.matches(of: /`(Fuzz[A-Za-z0-9]+)`/).map { String($0.1) })
        XCTAssertEqual(named, declared, "README's fuzzing section and fuzz/Package.swift differ")
        let script = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("scripts/fuzz"), encoding: .utf8)
        XCTAssertTrue(script.contains("fuzz/Package.swift"), "scripts/fuzz reads its targets from the manifest")
    }

    /// README's table of finding codes is `FindingCode.known`, family by family, and `known` is
    /// every code FindingCode.swift declares: a code added, renamed or dropped on one side only fails here.
    func testTheREADMEListsEveryFindingCode() throws {
        let known = Set(FindingCode.known.map(\.rawValue))
        XCTAssertEqual(known.count, FindingCode.known.count, "a code is listed twice in FindingCode.known")
        let source = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("Sources/6-Records/SessionReport/FindingCode.swift"),
                                encoding: .utf8)
        let declared = Set(source.matches(of: /static let \w+ = FindingCode\("([^"]+)"\)/).map { String($0.1) })
        XCTAssertEqual(declared, known, "FindingCode.known and the constants FindingCode.swift declares differ")
        XCTAssertTrue(FindingCode.known.allSatisfy { FindingCode.Family.known.contains($0.family) }, "a code outside the known families")

        let readme = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try XCTUnwrap(readme.components(separatedBy: "### Finding codes").dropFirst().first?.components(separatedBy: "\n#").first)
        var listed: [String] = [], families: [String] = []
        for row in section.split(separator: "\n") where row.hasPrefix("| `") {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let family = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            families.append(family)
            for code in cells[1].matches(of: /`([a-z]+\.[a-z0-9-]+)`/).map({ String($0.1) }) {
                XCTAssertTrue(code.hasPrefix(family + "."), "README lists \(code) in the row of \(family)")
                listed.append(code)
            }
        }
        XCTAssertEqual(families, FindingCode.Family.known.map(\.rawValue), "README's families and FindingCode.Family.known differ")
        XCTAssertEqual(listed.count, Set(listed).count, "README lists a code twice")
        XCTAssertEqual(Set(listed).subtracting(known), [], "README lists codes FindingCode does not declare")
        XCTAssertEqual(known.subtracting(listed), [], "FindingCode declares codes README does not list")
    }

    /// A code the README or the conformance statement names anywhere is one the agent writes (names
    /// of the same shape that are not codes, the audit record types and a file name, are told apart).
    func testTheDocumentationNamesOnlyRealFindingCodes() throws {
        let known = Set(FindingCode.known.map(\.rawValue))
        let families = Set(FindingCode.Family.known.map(\.rawValue))
        let notCodes = Set(AuditEventType.known.map(\.rawValue)).union(["autorun.inf"])
        for document in ["README.md", "docs/conformance-statement.md"] {
            let text = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent(document), encoding: .utf8)
            let named = Set(text.matches(of: /`([a-z]+)\.([a-z0-9-]+)`/).filter { families.contains(String($0.1)) }.map { "\($0.1).\($0.2)" })
            XCTAssertFalse(named.isEmpty, document)
            XCTAssertEqual(named.subtracting(known).subtracting(notCodes), [], "\(document) names finding codes the agent does not write")
        }
    }

    /// README's list of audit record types is `AuditEventType.known`.
    func testTheREADMEListsEveryAuditRecordType() throws {
        let readme = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try XCTUnwrap(readme.components(separatedBy: "### Audit trail").dropFirst().first?.components(separatedBy: "\n#").first)
        let paragraph = try XCTUnwrap(section.components(separatedBy: "Record types:").dropFirst().first?.components(separatedBy: "\n\n").first)
        let listed = paragraph.matches(of: /`([a-z.-]+)`/).map { String($0.1) }
        XCTAssertEqual(listed, AuditEventType.known.map(\.rawValue), "README's audit record types and AuditEventType.known differ")
    }

    /// scripts/test counts a skipped test as skipped, with its reason, from what XCTest itself prints:
    /// here this very test bundle, run on one test whose test data is made to be missing.
    func testScriptsTestCountsSkippedTestsApart() throws {
        let bundle = try XCTUnwrap(Bundle.main.executablePath)
        let dir = try TestSupport.TemporaryDirectory("test-report")
        let skipping = "CLIContractTests/testInspectReportsVerdictsAndExitCode"
        let run = try TestSupport.run(bundle, ["KioskAgentTests.\(skipping)"], environment: ["KIOSK_TESTDATA": dir.path("none")], check: false)
        let output = run.stdoutText + run.stderrText
        XCTAssertTrue(output.contains("Test Case 'CLIContractTests.testInspectReportsVerdictsAndExitCode' skipped"), output)
        // What SwiftPM's parallel runner writes: a progress line per test, their outputs, an xUnit
        // report in which the skipped test has no element of its own.
        let log = dir.path("test-output.txt"), xunit = dir.path("xunit.xml")
        try Data(("[1/2] Testing KioskAgentTests.\(skipping)\n[2/2] Testing KioskAgentTests.SessionMachineTests/testX\n" + output).utf8)
            .write(to: URL(fileURLWithPath: log))
        try Data("""
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites><testsuite name="TestResults" errors="0" tests="2" failures="0" time="0.1">
            <testcase classname="KioskAgentTests.CLIContractTests" name="testInspectReportsVerdictsAndExitCode" time="0.01"></testcase>
            <testcase classname="KioskAgentTests.SessionMachineTests" name="testX" time="0.01"></testcase>
            </testsuite></testsuites>

            """.utf8).write(to: URL(fileURLWithPath: xunit))
        let script = TestSupport.packageRoot.appendingPathComponent("scripts/test-report.py").path
        let summary = try TestSupport.run("python3", [script, "summary", xunit, log]).stdoutText
        XCTAssertTrue(summary.hasSuffix("\ntests: 1 passed, 0 failed, 1 skipped\n"), summary)
        XCTAssertTrue(summary.contains("  CLIContractTests.testInspectReportsVerdictsAndExitCode: pydicom test files missing at"), summary)
        let shown = try TestSupport.run("/bin/sh", ["-c", "python3 \"$0\" filter < \"$1\"", script, log]).stdoutText
        XCTAssertEqual(shown, "[1/2] Testing KioskAgentTests.\(skipping)\n[2/2] Testing KioskAgentTests.SessionMachineTests/testX\n",
                       "a skipped test's output stays in the log")
    }
}
