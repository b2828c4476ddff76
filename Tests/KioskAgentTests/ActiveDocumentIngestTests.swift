import DICOMCore
import Foundation
import TestSupport
import XCTest

/// `kiosk-agent ingest` with an Encapsulated PDF that runs JavaScript when opened, beside a CT:
/// never delivered. By default it is rejected into quarantine (exit 3); with
/// `active_documents = "drop"` it is left out — verdict discarded, nothing in quarantine — and the
/// CT is delivered.
final class ActiveDocumentIngestTests: XCTestCase {
    private func activePDF() throws -> [UInt8] {
        let ct = try [UInt8](Data(contentsOf: try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm")))
        var file = try DICOMReader.read(InMemoryByteSource(ct))
        let pdf = Array("%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".utf8)
        func element(_ tag: Tag, _ vr: VR, _ bytes: [UInt8]) -> DataElement {
            DataElement(tag: tag, vr: vr, value: .bytes(.inline(bytes.count & 1 == 1 ? bytes + [vr == .UI || vr == .OB ? 0 : 0x20] : bytes)))
        }
        file.dataSet.remove(Tag.pixelData)
        file.dataSet.set(element(Tag.sopClassUID, .UI, Array("1.2.840.10008.5.1.4.1.1.104.1".utf8)))
        file.dataSet.set(element(Tag.sopInstanceUID, .UI, Array("2.25.104104104104".utf8)))
        file.dataSet.set(element(Tag(0x0042, 0x0011), .OB, pdf))
        file.dataSet.set(element(Tag(0x0042, 0x0012), .LO, Array("application/pdf".utf8)))
        return try DICOMWriter.data(file, source: InMemoryByteSource(ct),
                                    options: WriteOptions(implementationClassUID: "2.25.2", implementationVersionName: "CRAFTED"))
    }

    func testActivePDFIsRejectedByDefaultAndLeftOutWhenDropped() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-active-pdf")
        let root = dir.url.appendingPathComponent("disc")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm"),
                                         to: root.appendingPathComponent("CT"))
        try Data(try activePDF()).write(to: root.appendingPathComponent("REPORT"))
        try Data("[protector]\nactive_documents = \"drop\"\n".utf8).write(to: URL(fileURLWithPath: dir.path("drop.toml")))

        for (name, extra, verdict, status) in [("reject", [String](), "rejected", Int32(3)),
                                               ("drop", ["--config", dir.path("drop.toml")], "discarded", Int32(0))] {
            let state = dir.path("state-\(name)")
            let result = try IngestFixtures.agent(["ingest", root.path, "--state-dir", state, "--report", dir.path("\(name).json")] + extra)
            XCTAssertEqual(result.status, status, "\(name): \(result.stderrText)")
            let report = try IngestFixtures.report(dir.path("\(name).json"))
            let files = report["files"] as? [[String: Any]] ?? []
            let pdf = try XCTUnwrap(files.first { ($0["path"] as? String ?? "").hasSuffix("REPORT") }, name)
            XCTAssertEqual(pdf["verdict"] as? String, verdict, name)
            let codes = (pdf["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            XCTAssertTrue(codes.contains("document.active-content"), "\(name): \(codes)")
            XCTAssertEqual((report["totals"] as? [String: Int])?["delivered"], 1, name)
            let archived = FileManager.default.enumerator(atPath: state + "/archive")?.allObjects.compactMap { $0 as? String }
                .filter { $0.hasSuffix(".dcm") } ?? []
            XCTAssertEqual(archived.count, 1, "\(name): only the CT is archived")
            XCTAssertFalse(archived.contains { $0.contains("2.25.104104104104") }, name)
            let quarantined = FileManager.default.enumerator(atPath: state + "/quarantine")?.allObjects.compactMap { $0 as? String }
                .filter { $0.hasSuffix("REPORT") } ?? []
            XCTAssertEqual(quarantined.count, name == "reject" ? 1 : 0, "\(name): \(quarantined)")
        }
    }
}
