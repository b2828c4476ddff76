import Foundation
import TestSupport
import XCTest

/// `ingest` with the engines a hospital configures: libclamav with the shipped signatures by
/// default, clamd and an ICAP gateway (real peers started here) from the config file, and
/// fail-closed when a configured engine is not there.
final class IngestEngineTests: XCTestCase {
    private func codes(_ file: [String: Any]) -> [String] {
        (file["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
    }

    /// A tree with one clean file and one whose private value carries EICAR (assembled at run time).
    private func infectedTree(_ dir: TestSupport.TemporaryDirectory) throws -> IngestFixtures.Tree {
        let tree = try IngestFixtures.makeTree(in: dir, extraDICOM: ["MR_small.dcm"], withDICOMDIR: false)
        try IngestFixtures.writeInfectedCT(to: tree.root.appendingPathComponent("DICOM/INFECTED").path)
        return tree
    }

    func testConfiguredEnginesAllScanAndTheInfectedValueIsRemoved() throws {
        let gateway = try ICAPPeer()
        let dir = try TestSupport.TemporaryDirectory("ingest-engines")
        let tree = try infectedTree(dir)
        try """
            [engines]
            clamd_socket = "\(gateway.clamd.socket)"
            icap = "\(gateway.url)"
            timeout_seconds = 20
            """.write(toFile: dir.path("kiosk.toml"), atomically: true, encoding: .utf8)
        let result = try IngestFixtures.agent(["ingest", tree.root.path, "--state-dir", dir.path("state"), "--config", dir.path("kiosk.toml"),
                                               "--report", dir.path("report.json")])
        XCTAssertEqual(result.status, 0, result.stderrText)
        let report = try IngestFixtures.report(dir.path("report.json"))
        let files = report["files"] as? [[String: Any]] ?? []
        let infected = try XCTUnwrap(files.first { ($0["path"] as? String)?.hasSuffix("INFECTED") == true })
        XCTAssertEqual(infected["verdict"] as? String, "disarmed")
        for engine in ["clamav", "clamd", "icap"] { XCTAssertTrue(codes(infected).contains("malware.\(engine)"), "\(codes(infected))") }
        let parts = infected["parts"] as? [[String: Any]] ?? []
        XCTAssertTrue(parts.contains { ($0["findings"] as? [String])?.contains("malware.clamd") == true && $0["action"] as? String == "removed" },
                      "\(parts)")
        let clean = try XCTUnwrap(files.first { ($0["path"] as? String)?.hasSuffix("EXTRA0") == true })
        XCTAssertFalse(codes(clean).contains { $0.hasPrefix("malware.") })
    }

    func testAnEngineThatIsNotThereRejectsAndQuarantines() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-engine-down")
        let tree = try IngestFixtures.makeTree(in: dir, extraDICOM: ["CT_small.dcm"], withDICOMDIR: false)
        try "[engines]\nclamd_socket = \"\(dir.path("nobody.sock"))\"\ntimeout_seconds = 2\n"
            .write(toFile: dir.path("kiosk.toml"), atomically: true, encoding: .utf8)
        let result = try IngestFixtures.agent(["ingest", tree.root.path, "--state-dir", dir.path("state"), "--config", dir.path("kiosk.toml"),
                                               "--report", dir.path("report.json")])
        XCTAssertEqual(result.status, 3, result.stderrText)
        let report = try IngestFixtures.report(dir.path("report.json"))
        let file = try XCTUnwrap((report["files"] as? [[String: Any]])?.first { $0["kind"] as? String == "dicom" })
        XCTAssertEqual(file["verdict"] as? String, "rejected")
        XCTAssertTrue(codes(file).contains("malware.engine-failure"), "\(codes(file))")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.path("state/quarantine")))
    }

    func testSignatureProblemsAreConfigurationErrors() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-signatures")
        let sample = try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm").path
        let missing = try IngestFixtures.agent(["inspect", sample, "--signatures", dir.path("none.ndb"), "--state-dir", dir.path("state")])
        XCTAssertEqual(missing.status, 2, missing.stderrText)
        XCTAssertTrue(missing.stderrText.contains("libclamav could not load"), missing.stderrText)
        try "[engines]\nclamav = false\n".write(toFile: dir.path("none.toml"), atomically: true, encoding: .utf8)
        let none = try IngestFixtures.agent(["inspect", sample, "--config", dir.path("none.toml"), "--state-dir", dir.path("state")])
        XCTAssertEqual(none.status, 2, none.stderrText)
        XCTAssertTrue(none.stderrText.contains("no anti-malware engine"), none.stderrText)
        // The project's own set, named explicitly, works like the default.
        let named = try IngestFixtures.agent(["inspect", sample, "--signatures", TestSupport.packageRoot.appendingPathComponent("signatures").path,
                                              "--state-dir", dir.path("state")])
        XCTAssertEqual(named.status, 0, named.stderrText)
    }
}
