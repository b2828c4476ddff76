import Foundation
import TestSupport
import XCTest

/// Every limit in `[limits]` (and the per-scan engine timeout) ends in a finding and the refusal of
/// what broke it; the rest of the disc is still imported, and the exit is never a silent 0.
final class LimitsTests: XCTestCase {
    private func ingest(_ tree: URL, _ limits: String, _ dir: TestSupport.TemporaryDirectory) throws -> (Int32, [String: Any]) {
        let name = "limits-\(abs(limits.hashValue))"
        try "[limits]\n\(limits)\n".write(toFile: dir.path("\(name).toml"), atomically: true, encoding: .utf8)
        let result = try IngestFixtures.agent(["ingest", tree.path, "--state-dir", dir.path("state-\(name)"), "--config", dir.path("\(name).toml"),
                                               "--report", dir.path("\(name).json")])
        return (result.status, try IngestFixtures.report(dir.path("\(name).json")))
    }

    private func codes(_ report: [String: Any]) -> (media: [String], files: [String: (verdict: String, codes: [String])]) {
        let media = ((report["media"] as? [String: Any])?["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
        var files: [String: (String, [String])] = [:]
        for file in report["files"] as? [[String: Any]] ?? [] {
            files[file["path"] as? String ?? ""] = (file["verdict"] as? String ?? "",
                                                    (file["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String })
        }
        return (media, files)
    }

    func testEachLimitRefusesWhatBreaksItAndTheRestIsImported() throws {
        let dir = try TestSupport.TemporaryDirectory("limits")
        let files = try TestSupport.pydicomTestFiles()
        let tree = dir.url.appendingPathComponent("disc")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("DICOM"), withIntermediateDirectories: true)
        for (name, target) in [("CT_small.dcm", "CT"), ("MR_small.dcm", "MR"), ("rtplan.dcm", "RTPLAN")] {
            try FileManager.default.copyItem(at: files.appendingPathComponent(name), to: tree.appendingPathComponent("DICOM/\(target)"))
        }

        // A file over max_file_size (CT, 39 KB) is refused by name; MR and RTPLAN are imported.
        var (status, report) = try ingest(tree, "max_file_size = 20000", dir)
        XCTAssertEqual(status, 3)
        var found = codes(report)
        XCTAssertTrue(found.media.contains("media.limit-exceeded"))
        XCTAssertEqual(Set(found.files.keys), ["/DICOM/MR", "/DICOM/RTPLAN"])
        XCTAssertEqual((report["totals"] as? [String: Any])?["delivered"] as? Int, 2)

        // Nesting deeper than allowed (RTPLAN's sequences): that file is rejected, the others delivered.
        (status, report) = try ingest(tree, "max_nesting_depth = 1", dir)
        XCTAssertEqual(status, 3)
        found = codes(report)
        XCTAssertEqual(found.files["/DICOM/RTPLAN"]?.verdict, "rejected")
        XCTAssertTrue(found.files["/DICOM/RTPLAN"]?.codes.contains("structure.nesting-depth") == true)
        XCTAssertEqual((report["totals"] as? [String: Any])?["delivered"] as? Int, 2)

        // More elements than allowed in a data set.
        (status, report) = try ingest(tree, "max_elements = 80", dir)
        XCTAssertEqual(status, 3)
        found = codes(report)
        XCTAssertEqual(found.files["/DICOM/CT"]?.verdict, "rejected")
        XCTAssertTrue(found.files["/DICOM/CT"]?.codes.contains("structure.too-many-elements") == true)
        XCTAssertGreaterThanOrEqual((report["totals"] as? [String: Any])?["delivered"] as? Int ?? 0, 1)

        // Too many entries or bytes on the disc: the walk stops, says where, and the exit is not 0.
        for limit in ["max_entries = 2", "max_total_bytes = 45000"] {
            (status, report) = try ingest(tree, limit, dir)
            XCTAssertEqual(status, 3, limit)
            found = codes(report)
            XCTAssertTrue(found.media.contains("media.limit-exceeded"), limit)
            XCTAssertLessThan(found.files.count, 3, limit)
            XCTAssertGreaterThanOrEqual((report["totals"] as? [String: Any])?["delivered"] as? Int ?? 0, 1, "what was read is imported: \(limit)")
        }
    }
}
