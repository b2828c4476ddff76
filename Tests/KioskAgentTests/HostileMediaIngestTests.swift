import DICOMCore
import Foundation
import TestSupport
import XCTest

/// Lose no clean image: a file whose name on the medium is hostile is read by its location,
/// imported under a stand-in, and listed with the name it had; a file that truly cannot be read
/// is listed as refused and the session does not end "all delivered".
final class HostileMediaIngestTests: XCTestCase {
    private func files(_ report: [String: Any]) -> [[String: Any]] { report["files"] as? [[String: Any]] ?? [] }
    private func codes(_ file: [String: Any]) -> [String] { (file["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String } }

    /// Same-length patch of every occurrence of `from` (as UCS-2 BE or UTF-16LE) in the image.
    private func patch(_ path: String, _ from: String, _ to: String, bigEndian: Bool) throws -> Int {
        func encode(_ text: String) -> [UInt8] {
            Array(text.utf16).flatMap { bigEndian ? [UInt8($0 >> 8), UInt8($0 & 0xFF)] : [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let needle = encode(from), replacement = encode(to)
        var count = 0, index = 0
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0], Array(bytes[index..<index + needle.count]) == needle {
                bytes.replaceSubrange(index..<index + needle.count, with: replacement)
                count += 1
            }
            index += 1
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return count
    }

    private func disc(_ dir: TestSupport.TemporaryDirectory) throws -> URL {
        let pydicom = try TestSupport.pydicomTestFiles()
        let root = dir.url.appendingPathComponent("disc")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("DICOM"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("QQ"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: pydicom.appendingPathComponent("CT_small.dcm"), to: root.appendingPathComponent("XXXct.dcm"))
        try FileManager.default.copyItem(at: pydicom.appendingPathComponent("MR_small.dcm"), to: root.appendingPathComponent("QQ/mr.dcm"))
        try FileManager.default.copyItem(at: pydicom.appendingPathComponent("rtplan.dcm"), to: root.appendingPathComponent("DICOM/IM1"))
        // The DICOMDIR lists the one file with an ordinary name; no DICOMDIR could name the others.
        try TestSupport.writeDICOMDIR(referencing: [["DICOM", "IM1"]], to: root.appendingPathComponent("DICOMDIR").path)
        return root
    }

    func testJolietNamesThatClimbOutAreImportedUnderStandIns() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-hostile-joliet")
        let root = try disc(dir)
        let image = dir.path("disc.iso")
        try TestSupport.run("genisoimage", ["-quiet", "-J", "-V", "HOSTILE", "-o", image, root.path])
        // genisoimage will not write these names: patch the Joliet (UCS-2) identifiers afterwards.
        XCTAssertGreaterThan(try patch(image, "XXXct", "..\\ct", bigEndian: true), 0)
        XCTAssertGreaterThan(try patch(image, "QQ", "..", bigEndian: true), 0)

        let result = try IngestFixtures.agent(["ingest", image, "--state-dir", dir.path("state"), "--report", dir.path("report.json")])
        let report = try IngestFixtures.report(dir.path("report.json"))
        XCTAssertEqual(result.status, 0, "every image delivered: \(result.stderrText)")
        let byPath = Dictionary(files(report).map { ($0["path"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        let ct = try XCTUnwrap(byPath["/..%5Cct.dcm"], "\(byPath.keys)")
        XCTAssertEqual(ct["originalPath"] as? String, "/..\\\\ct.dcm")
        XCTAssertEqual(ct["delivery"] as? String, "stored")
        XCTAssertTrue(codes(ct).contains("media.path-traversal"))
        XCTAssertFalse(codes(ct).contains("dicomdir.unlisted-file"), "a stand-in is never reported as missing from the DICOMDIR")
        let mr = try XCTUnwrap(byPath["/%2E%2E/mr.dcm"], "\(byPath.keys)")
        XCTAssertEqual(mr["originalPath"] as? String, "/../mr.dcm")
        XCTAssertEqual(mr["delivery"] as? String, "stored")
        XCTAssertNil(byPath["/DICOM/IM1"]?["originalPath"])
        XCTAssertEqual(byPath["/DICOM/IM1"]?["delivery"] as? String, "stored")
        let media = ((report["media"] as? [String: Any])?["findings"] as? [[String: Any]] ?? [])
        let traversal = media.filter { $0["code"] as? String == "media.path-traversal" }
        XCTAssertEqual(traversal.count, 2, "\(media)")
        XCTAssertTrue(traversal.allSatisfy { $0["severity"] as? String == "low" })
        XCTAssertFalse(media.contains { ["dicomdir.missing-file", "dicomdir.path-traversal"].contains($0["code"] as? String) }, "\(media)")
        XCTAssertEqual((report["totals"] as? [String: Int])?["delivered"], 3)
    }

    func testFATFileWithABrokenChainIsListedRefusedAndTheSessionExitsThree() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-hostile-fat")
        let root = try disc(dir)
        try Data(VolumeTestKitBytes.pattern(40_000)).write(to: root.appendingPathComponent("LOST.BIN"))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("GONE"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm"),
                                         to: root.appendingPathComponent("GONE/IM1"))
        let image = dir.path("stick.img")
        try TestSupport.run(try TestSupport.tool("mkfs.vfat"), ["-C", "-F", "16", "-n", "HOSTILE", image, "20000"])
        let top = try FileManager.default.contentsOfDirectory(atPath: root.path).map { root.appendingPathComponent($0).path }
        try TestSupport.run("mcopy", ["-s", "-i", image] + top + ["::/"], environment: ["MTOOLS_SKIP_CHECK": "1"])
        // A long name that climbs out (UTF-16LE in the LFN entry; its checksum covers the 8.3 name).
        XCTAssertEqual(try patch(image, "XXXct", "../ct", bigEndian: false), 1)
        // LOST.BIN's first cluster is marked free in both FATs: its chain ends before its size.
        // So is the first cluster of directory GONE: what it holds cannot be listed.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: image)))
        for short in ["LOST    BIN", "GONE       "] {
            let name = Array(short.utf8)
            let entry = try XCTUnwrap(bytes.indices.dropLast(32).first { Array(bytes[$0..<$0 + 11]) == name })
            let cluster = Int(bytes[entry + 26]) | Int(bytes[entry + 27]) << 8
            let bps = Int(bytes[11]) | Int(bytes[12]) << 8, reserved = Int(bytes[14]) | Int(bytes[15]) << 8
            let fats = Int(bytes[16]), perFAT = Int(bytes[22]) | Int(bytes[23]) << 8
            for copy in 0..<fats {
                let at = (reserved + copy * perFAT) * bps + cluster * 2
                bytes[at] = 0; bytes[at + 1] = 0
            }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: image))

        let result = try IngestFixtures.agent(["ingest", image, "--state-dir", dir.path("state"), "--report", dir.path("report.json")])
        let report = try IngestFixtures.report(dir.path("report.json"))
        XCTAssertEqual(result.status, 3, "a file that could not be read is never 'all delivered': \(result.stderrText)")
        let byPath = Dictionary(files(report).map { ($0["path"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        let lost = try XCTUnwrap(byPath["/LOST.BIN"], "\(byPath.keys)")
        XCTAssertEqual(lost["verdict"] as? String, "rejected")
        XCTAssertTrue(codes(lost).contains { $0.hasPrefix("media.") }, "\(codes(lost))")
        let gone = try XCTUnwrap(byPath["/GONE"], "\(byPath.keys)")
        XCTAssertEqual(gone["verdict"] as? String, "rejected")
        let ct = try XCTUnwrap(byPath["/..%2Fct.dcm"], "\(byPath.keys)")
        XCTAssertEqual(ct["originalPath"] as? String, "/..\\x2Fct.dcm")
        XCTAssertEqual(ct["delivery"] as? String, "stored")
        XCTAssertEqual(byPath["/QQ/mr.dcm"]?["delivery"] as? String, "stored")
    }

    /// pydicom's files without Study/Series Instance UIDs are delivered by default, under derived
    /// UIDs that a second reading of the same medium reproduces: the archive recognises every
    /// instance instead of storing a duplicate. With `missing_uids = "reject"` they are quarantined.
    func testFilesWithoutUIDsAreDeliveredOnceAndTheirUIDsAreStableAcrossReads() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-missing-uids")
        let root = dir.url.appendingPathComponent("disc")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let names = ["JPEGLSNearLossless_08.dcm", "JPEGLSNearLossless_16.dcm", "SC_rgb_jls_lossy_line.dcm", "SC_rgb_jls_lossy_sample.dcm",
                     "UN_sequence.dcm", "empty_charset_LEI.dcm", "no_meta_group_length.dcm", "priv_SQ.dcm"]
        for name in names {
            try FileManager.default.copyItem(at: try TestSupport.pydicomTestFiles().appendingPathComponent(name), to: root.appendingPathComponent(name))
        }
        for name in ["chrSQEncoding.dcm", "chrSQEncoding1.dcm"] {
            try FileManager.default.copyItem(at: try TestSupport.pydicomCharsetFiles().appendingPathComponent(name), to: root.appendingPathComponent(name))
        }
        func run(_ report: String, _ extra: [String] = []) throws -> (Int32, [String: Any]) {
            let result = try IngestFixtures.agent(["ingest", root.path, "--state-dir", dir.path("state"), "--report", dir.path(report)] + extra)
            return (result.status, try IngestFixtures.report(dir.path(report)))
        }
        let (status, first) = try run("first.json")
        XCTAssertEqual(status, 0)
        XCTAssertEqual((first["totals"] as? [String: Int])?["delivered"], 10, "\(files(first).map { codes($0) })")
        let uids = { (report: [String: Any]) in Set(self.files(report).compactMap { $0["sopInstanceUID"] as? String }) }
        let studies = { (report: [String: Any]) in Set(self.files(report).compactMap { $0["studyInstanceUID"] as? String }) }
        XCTAssertTrue(studies(first).allSatisfy { $0.hasPrefix("2.25.") })
        XCTAssertTrue(files(first).allSatisfy { codes($0).contains("reconciliation.uid-replaced") })

        let (again, second) = try run("second.json")
        XCTAssertEqual(again, 0)
        XCTAssertEqual(uids(second), uids(first))
        XCTAssertEqual(studies(second), studies(first))
        XCTAssertTrue(files(second).allSatisfy { codes($0).contains("delivery.already-archived") }, "\(files(second).map { codes($0) })")
        let archive = dir.url.appendingPathComponent("state/archive")
        let archived = (FileManager.default.enumerator(atPath: archive.path)?.allObjects.compactMap { $0 as? String } ?? []).filter { $0.hasSuffix(".dcm") }
        XCTAssertEqual(archived.count, 10, "no duplicates")
        let dump = try TestSupport.run("dcmdump", ["-q", archive.appendingPathComponent(archived[0]).path]).stdoutText
        XCTAssertTrue(dump.contains("OriginalAttributesSequence") && dump.contains("COERCE"), dump)

        try Data("[protector]\nmissing_uids = \"reject\"\n".utf8).write(to: dir.url.appendingPathComponent("reject.toml"))
        let (refused, third) = try run("third.json", ["--config", dir.path("reject.toml"), "--state-dir", dir.path("state-reject")])
        XCTAssertEqual(refused, 3)
        XCTAssertEqual((third["totals"] as? [String: Int])?["rejected"], 10)
    }
}

enum VolumeTestKitBytes {
    static func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) } }
}
