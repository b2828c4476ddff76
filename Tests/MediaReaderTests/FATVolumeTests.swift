import Foundation
import TestSupport
import XCTest
@testable import MediaReader

/// FAT12/16/32 images made by mkfs.vfat and filled by mcopy (never mounted), read back by our reader.
final class FATVolumeTests: XCTestCase {
    private func image(fat: Int, sizeKiB: Int, files: [String: [UInt8]], in dir: TestSupport.TemporaryDirectory) throws -> String {
        try Self.image(dir.path("fat\(fat).img"), fat: fat, label: "KIOSK\(fat)", sizeKiB: sizeKiB, files: files,
                       staging: dir.url.appendingPathComponent("src\(fat)"))
    }

    /// mkfs.vfat makes the image; mcopy fills it from `files` written under `staging`.
    static func image(_ path: String, fat: Int, label: String, sizeKiB: Int, files: [String: [UInt8]], staging: URL) throws -> String {
        try TestSupport.run(try TestSupport.tool("mkfs.vfat"), ["-C", "-F", String(fat), "-n", label, path, String(sizeKiB)])
        for (name, bytes) in files {
            let url = staging.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        let top = try FileManager.default.contentsOfDirectory(atPath: staging.path).map { staging.appendingPathComponent($0).path }
        try TestSupport.run("mcopy", ["-s", "-i", path] + top + ["::/"], environment: ["MTOOLS_SKIP_CHECK": "1"])
        return path
    }

    private func walk(_ volume: FATVolume) -> ([MediaEntry], [MediaProblem]) {
        var entries: [MediaEntry] = [], problems: [MediaProblem] = []
        volume.walk(limits: WalkLimits(), visit: { entries.append($0) }, problem: { problems.append($0) })
        return (entries.filter { $0.kind == .file }, problems)
    }

    private var sample: [String: [UInt8]] {
        var generator = SystemRandomNumberGenerator()
        var files: [String: [UInt8]] = ["empty.txt": [], "Überweisung März, ein langer Name.pdf": Array("x".utf8),
                                        "DICOM/ST000000/SE000000/IM000000": (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }]
        for i in 0..<150 { files["MANY/file\(i).dat"] = Array("file \(i)".utf8) }
        return files
    }

    func testFAT12FAT16FAT32ReadBackByteIdentical() throws {
        let dir = try TestSupport.TemporaryDirectory("fat")
        for (fat, size) in [(12, 4096), (16, 20_000), (32, 40_000)] {
            let files = sample
            let volume = try FATVolume(image: SystemFile(readOnly: try image(fat: fat, sizeKiB: size, files: files, in: dir)))
            XCTAssertEqual(volume.boot.kind.rawValue, "FAT\(fat)")
            let (entries, problems) = walk(volume)
            XCTAssertEqual(problems, [], "FAT\(fat)")
            XCTAssertEqual(volume.label, "KIOSK\(fat)")
            XCTAssertEqual(Set(entries.map { String($0.path.description.dropFirst()) }), Set(files.keys), "FAT\(fat)")
            for entry in entries {
                XCTAssertEqual(try volume.open(entry).readAll(), files[String(entry.path.description.dropFirst())], entry.path.description)
            }
        }
    }

    /// The FAT entry of `cluster` on a FAT16 image, rewritten in both FAT copies.
    private func patchFAT16(_ bytes: inout [UInt8], cluster: Int, value: UInt16) {
        let bps = Int(bytes[11]) | Int(bytes[12]) << 8
        let reserved = Int(bytes[14]) | Int(bytes[15]) << 8
        let fats = Int(bytes[16]), perFAT = Int(bytes[22]) | Int(bytes[23]) << 8
        for copy in 0..<fats {
            let at = (reserved + copy * perFAT) * bps + cluster * 2
            bytes[at] = UInt8(value & 0xFF); bytes[at + 1] = UInt8(value >> 8)
        }
    }

    func testChainLoopAndCrossLinkAreProblemsAndTheRestIsRead() throws {
        let dir = try TestSupport.TemporaryDirectory("fat-hostile")
        var generator = SystemRandomNumberGenerator()
        let big = (0..<40_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let path = try image(fat: 16, sizeKiB: 20_000, files: ["A.BIN": big, "B.BIN": big, "C.TXT": Array("fine".utf8),
                                                               "D.TXT": Array("also fine".utf8)], in: dir)
        let clean = try FATVolume(image: SystemFile(readOnly: path))
        let (entries, _) = walk(clean)
        let a = try XCTUnwrap(entries.first { $0.path.name == "A.BIN" }), b = try XCTUnwrap(entries.first { $0.path.name == "B.BIN" })
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // A's second cluster points back at its first: a loop. B starts inside A's chain: a cross-link.
        patchFAT16(&bytes, cluster: Int(a.locator.start) + 1, value: UInt16(a.locator.start))
        // C.TXT's directory entry now starts inside B's chain: a cross-link.
        let name = Array("C       TXT".utf8)
        let entry = try XCTUnwrap(bytes.indices.dropLast(32).first { Array(bytes[$0..<$0 + 11]) == name })
        let inside = UInt16(b.locator.start) + 2
        bytes[entry + 26] = UInt8(inside & 0xFF); bytes[entry + 27] = UInt8(inside >> 8)
        // …with a size that fits the rest of B's chain exactly, so only the sharing is wrong.
        let clusterSize = (Int(bytes[11]) | Int(bytes[12]) << 8) * Int(bytes[13])
        let size = UInt32(big.count - 2 * clusterSize)
        for k in 0..<4 { bytes[entry + 28 + k] = UInt8(size >> (8 * UInt32(k)) & 0xFF) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let looped = try FATVolume(image: SystemFile(readOnly: path))
        let (remaining, problems) = walk(looped)
        XCTAssertTrue(problems.contains { if case .loop = $0.error { return true }; return false }, "\(problems)")
        XCTAssertTrue(problems.contains { if case .crossLink = $0.error { return true }; return false }, "\(problems)")
        XCTAssertTrue(remaining.contains { $0.path.name == "D.TXT" }, "the rest of the volume is still read")
        XCTAssertEqual(remaining.filter { $0.path.name == "B.BIN" || $0.path.name == "C.TXT" }.count, 1,
                       "whichever of the two sharing clusters comes second is refused")
    }

    func testBootSectorThatLiesIsRefused() throws {
        let dir = try TestSupport.TemporaryDirectory("fat-bpb")
        let path = try image(fat: 16, sizeKiB: 20_000, files: ["X": [1]], in: dir)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[13] = 0  // zero sectors per cluster
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try FATVolume(image: SystemFile(readOnly: path)))
        bytes[13] = 4
        bytes[32] = 0xFF; bytes[33] = 0xFF; bytes[34] = 0xFF; bytes[19] = 0; bytes[20] = 0  // 16M sectors on a 20 MB image
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try FATVolume(image: SystemFile(readOnly: path)))
    }
}
