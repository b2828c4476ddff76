import Foundation
import TestSupport
import XCTest

/// The README's main job on small generated discs: scripts/make-sample-disc (IHE PDI layout with a
/// DICOMDIR, a CT and an MR study, a bundled viewer) as ISO and as FAT image, then `ingest`.
final class SampleDiscTests: XCTestCase {
    private func makeDisc(_ format: String, _ dir: TestSupport.TemporaryDirectory) throws -> String {
        let out = dir.path("sample.\(format)")
        try TestSupport.run(try TestSupport.tool("python3"),
                            [TestSupport.packageRoot.appendingPathComponent("scripts/make-sample-disc").path,
                             "--out", out, "--format", format, "--ct-images", "6", "--mr-images", "3",
                             "--patient-id", "PAT-001", "--patient-name", "DOE^JANE", "--birth-date", "19700101"],
                            environment: ["KIOSK_TESTDATA": TestSupport.testDataRoot.path])
        return out
    }

    func testSampleISOAndFATImportCompletely() throws {
        _ = try TestSupport.pydicomTestFiles()
        for format in ["iso", "fat"] {
            let dir = try TestSupport.TemporaryDirectory("sample-\(format)")
            let disc = try makeDisc(format, dir)
            let result = try IngestFixtures.agent(["ingest", disc, "--state-dir", dir.path("state"), "--report", dir.path("r.json"),
                                                   "--patient-id", "PAT-001", "--patient-name", "Doe^Jane", "--birth-date", "19700101"])
            XCTAssertEqual(result.status, 0, "\(format): \(result.stderrText)")
            let report = try IngestFixtures.report(dir.path("r.json"))
            let totals = report["totals"] as? [String: Int] ?? [:]
            XCTAssertEqual(totals["dicom"], 9, format)
            XCTAssertEqual(totals["delivered"], 9, format)
            let studies = report["studies"] as? [[String: Any]] ?? []
            XCTAssertEqual(studies.count, 2, format)
            XCTAssertTrue(studies.allSatisfy { $0["identity"] as? String == "match" }, "\(studies)")
            let codes = (report["files"] as? [[String: Any]] ?? []).flatMap { ($0["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String } }
            XCTAssertFalse(codes.contains("dicomdir.unlisted-file"), "every instance is in the DICOMDIR")
            XCTAssertTrue(codes.contains("executable.discarded"))
            XCTAssertTrue(codes.contains("autorun.discarded"))
        }
    }
}
