import Foundation
import TestSupport
import XCTest
@testable import MediaReader

/// exFAT images: made by mkfs.exfat, filled through exfat-fuse on a loop device (no tool fills
/// exFAT without mounting it), then read by our reader from the image file.
final class ExFATTests: XCTestCase {
    private struct Fixture {
        let image: String
        let files: [String: [UInt8]]
    }

    private func makeImage(_ dir: TestSupport.TemporaryDirectory) throws -> Fixture {
        let image = dir.path("exfat.img")
        try TestSupport.run("truncate", ["-s", "48M", image])
        try TestSupport.run(try TestSupport.tool("mkfs.exfat"), ["-L", "KIOSKEX", image])
        var files: [String: [UInt8]] = [:]
        var generator = SystemRandomNumberGenerator()
        let contents: [(String, Int)] = [("DICOM/ST000001/IM000001", 600_000), ("DICOM/ST000001/IM000002", 4096),
                                         ("Überweisung März mit einem sehr langen Namen.txt", 33), ("empty.bin", 0),
                                         ("deep/a/b/c/d/file.dat", 70_000)]
        for (path, size) in contents {
            files[path] = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        try ExFATFill.fill(image, with: files, in: dir)
        files = Dictionary(uniqueKeysWithValues: files.map { ("/" + $0.key, $0.value) })
        return Fixture(image: image, files: files)
    }

    func testReadsEveryFileByteIdenticalWithLabelAndUnicodeNames() throws {
        let dir = try TestSupport.TemporaryDirectory("exfat")
        let fixture = try makeImage(dir)
        let volume = try ExFATVolume(image: SystemFile(readOnly: fixture.image))
        var entries: [MediaEntry] = []
        var problems: [MediaProblem] = []
        volume.walk(limits: WalkLimits(), visit: { entries.append($0) }, problem: { problems.append($0) })
        XCTAssertEqual(problems, [])
        XCTAssertEqual(volume.label, "KIOSKEX")
        let files = entries.filter { $0.kind == .file }
        XCTAssertEqual(Set(files.map(\.path.description)), Set(fixture.files.keys))
        for entry in files {
            XCTAssertEqual(try volume.open(entry).readAll(), fixture.files[entry.path.description], entry.path.description)
        }
        XCTAssertEqual(try Probe.identify(path: fixture.image).filesystem, .exfat)
    }

    func testCorruptEntrySetAndBootChecksumAreReported() throws {
        let dir = try TestSupport.TemporaryDirectory("exfat-bad")
        let fixture = try makeImage(dir)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture.image)))
        // Corrupt the name of the Unicode-named file inside its entry set: its checksum no longer fits.
        let needle = Array("Überweisung".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let at = try XCTUnwrap(bytes.indices.dropLast(needle.count).first { Array(bytes[$0..<$0 + needle.count]) == needle })
        bytes[at] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: fixture.image))
        let volume = try ExFATVolume(image: SystemFile(readOnly: fixture.image))
        var entries: [MediaEntry] = []
        var problems: [MediaProblem] = []
        volume.walk(limits: WalkLimits(), visit: { entries.append($0) }, problem: { problems.append($0) })
        XCTAssertTrue(problems.contains { "\($0.error)".contains("checksum") }, "\(problems)")
        XCTAssertEqual(entries.filter { $0.kind == .file }.count, fixture.files.count - 1, "the other files are still listed")

        bytes[200] ^= 0xFF  // inside the checksummed boot sector
        try Data(bytes).write(to: URL(fileURLWithPath: fixture.image))
        XCTAssertThrowsError(try ExFATVolume(image: SystemFile(readOnly: fixture.image))) { error in
            XCTAssertEqual(error as? MediaError, .corrupt("exFAT boot checksum mismatch"))
        }
    }
}
