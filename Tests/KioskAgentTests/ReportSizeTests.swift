import Foundation
import SessionReport
import XCTest
@testable import IngestPipeline
@testable import KioskAgent
@testable import KioskStation

/// What keeps a session's report — and the agent holding it — in proportion to a disc of vendor
/// images: routine private-block removals listed per block, and the JSON written record by record.
final class ReportSizeTests: XCTestCase {
    private func part(_ name: String, _ location: String, _ size: Int64, action: PartAction = .removed,
                      findings: [FindingCode] = []) -> PartRecord {
        PartRecord(part: name, location: location, size: size, checks: ["structure", "signatures", "clamav"], action: action,
                   findings: findings)
    }

    func testRoutinePrivateRemovalsAreOneEntryPerBlock() {
        let ge = "private block \"GEMS_ACQU_01\""
        let listed = ReportedParts.of([
            part("preamble", "preamble", 128, action: .replaced, findings: [.preambleTIFF]),
            part(ge, "(0019,0010)", 12), part(ge, "(0019,1002)", 4), part(ge, "(0019,10DE)", 10),
            part(ge, "(0019,1050)[0](0008,0100)", 6),
            part("private block \"ACME 1.0\"", "(0029,1001)", 70, findings: [.malwareClamAV]),
            part("private block \"ACME 1.0\"", "(0029,1002)", 8),
            part("private block \"SECOND\"", "(0029,1102)", 8),
            part("element", "(0028,1201)", 64, action: .kept),
            part("frame 1", "(7FE0,0010) frame 1", 524_288, action: .kept),
        ])
        XCTAssertEqual(listed.map(\.location), ["preamble", "(0019,10xx)", "(0029,1001)", "(0029,10xx)", "(0029,11xx)"])
        XCTAssertEqual(listed[1].size, 32, "the block's elements, its creator and what is nested below them")
        XCTAssertEqual(listed[1].part, ge)
        XCTAssertEqual(listed[1].checks, ["structure", "signatures", "clamav"])
        XCTAssertEqual(listed[2].findings, [.malwareClamAV], "an element with a finding of its own stays listed alone")
        XCTAssertNil(ReportedParts.block(of: "(0009,0002)"), "outside any block")
        XCTAssertNil(ReportedParts.block(of: "(0008,0100)"))
        XCTAssertEqual(ReportedParts.block(of: "(0043,0010)"), "(0043,10xx)")
    }

    func testTheReportIsWhatJSONEncoderWrites() throws {
        var report = Report(source: .init(path: "/dev/sr0", filesystem: "iso9660", label: "CD/1"))
        report.sessionID = "s"
        XCTAssertEqual(try ReportJSON.encode(report), try ReportJSON.encoder().encode(report), "no files")
        for index in 0..<3 {
            var record = FileRecord(path: "/DICOM/IM\(index)", size: 10, sha256: "ab", kind: .dicom, verdict: .disarmed,
                                    findings: [Finding(.structureTrailingData, .medium, "line one\nline \"two\" / é", element: "(FFFC,FFFC)")])
            record.parts = index == 1 ? nil : [part("preamble", "preamble", 128, action: .replaced)]
            report.files.append(record)
        }
        report.studies = [Study(studyInstanceUID: "1.2", patientName: "DOE^J", patientID: "1", birthDate: "", description: "",
                                modalities: ["CT"], instances: 3, identity: .unverified, series: 1)]
        let streamed = try ReportJSON.encode(report)
        XCTAssertEqual(String(decoding: streamed, as: UTF8.self), String(decoding: try ReportJSON.encoder().encode(report), as: UTF8.self))

        // Written to a file record by record: the same bytes, in place of what was there, nothing left beside it.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let kept = directory.appendingPathComponent("session.json")
        try Data("an older report, longer than the new one would be if it were not replaced".utf8).write(to: kept)
        try ReportJSON.write(report, to: kept)
        XCTAssertEqual(try Data(contentsOf: kept), try ReportJSON.encoder().encode(report))
        let copy = directory.appendingPathComponent("copy.json")
        try KeptReport.file(kept).copy(to: copy)
        XCTAssertEqual(try Data(contentsOf: copy), try Data(contentsOf: kept))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(), ["copy.json", "session.json"])
    }
}
