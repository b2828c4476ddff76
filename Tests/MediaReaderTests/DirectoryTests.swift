import Foundation
import TestSupport
import XCTest
@testable import MediaReader

final class DirectoryTests: XCTestCase {
    func testWalkReportsSymlinksAndNeverFollowsThem() throws {
        let kit = try VolumeTestKit()
        let files: [String: [UInt8]] = ["DICOM/IM1": VolumeTestKit.pattern(50_000, seed: 21), "README": Array("r".utf8),
                                        "DICOM/SUB/IM2": [1, 2, 3]]
        try kit.writeTree(files)
        let fm = FileManager.default
        let root = kit.source
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("DICOM/SUB/loop").path, withDestinationPath: "..")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("DICOM/escape").path, withDestinationPath: "../../../../etc/passwd")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("etc").path, withDestinationPath: "/etc")

        let volume = try DirectoryVolume(path: root.path)
        XCTAssertEqual(volume.label, "source")
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems, [])
        let kinds = Dictionary(uniqueKeysWithValues: walk.entries.map { ($0.path.description, $0.kind) })
        XCTAssertEqual(kinds, ["/DICOM": .directory, "/DICOM/IM1": .file, "/DICOM/SUB": .directory, "/DICOM/SUB/IM2": .file,
                               "/DICOM/SUB/loop": .symlink, "/DICOM/escape": .symlink, "/README": .file, "/etc": .symlink])
        // Stable order: sorted names, directories before their contents.
        XCTAssertEqual(walk.entries.map(\.path.description),
                       ["/DICOM", "/README", "/etc", "/DICOM/IM1", "/DICOM/SUB", "/DICOM/escape", "/DICOM/SUB/IM2", "/DICOM/SUB/loop"])
        try VolumeTestKit.assertContents(volume, walk.entries, equal: files)
        let link = try XCTUnwrap(walk.entries.first { $0.kind == .symlink })
        XCTAssertThrowsError(try volume.open(link))
    }

    func testFileSwappedForSymlinkAfterTheWalkIsNotRead() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["A/IM1": [1, 2, 3]])
        let volume = try DirectoryVolume(path: kit.source.path)
        let entry = try XCTUnwrap(VolumeTestKit.walk(volume).entries.first { $0.path.name == "IM1" })
        let target = kit.source.appendingPathComponent("A/IM1").path
        try FileManager.default.removeItem(atPath: target)
        try FileManager.default.createSymbolicLink(atPath: target, withDestinationPath: "/etc/passwd")
        XCTAssertThrowsError(try volume.open(entry)) { error in
            XCTAssertEqual(error as? MediaError, .io(operation: "open /A/IM1", errno: ELOOP))
        }
        // A directory on the way swapped for a symlink is refused the same way.
        try FileManager.default.removeItem(at: kit.source.appendingPathComponent("A"))
        try FileManager.default.createSymbolicLink(atPath: kit.source.appendingPathComponent("A").path, withDestinationPath: "/etc")
        XCTAssertThrowsError(try volume.open(entry))
    }

    func testReplacedFileIsDetected() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["IM1": [1, 2, 3]])
        let volume = try DirectoryVolume(path: kit.source.path)
        let entry = try XCTUnwrap(VolumeTestKit.walk(volume).entries.first)
        let path = kit.source.appendingPathComponent("IM1")
        // Written beside and renamed over, so the new file cannot reuse the old inode number.
        let replacement = kit.source.appendingPathComponent("IM1.new")
        try Data([9, 9, 9]).write(to: replacement)
        XCTAssertEqual(rename(replacement.path, path.path), 0)
        XCTAssertThrowsError(try volume.open(entry)) { error in
            guard case .corrupt = error as? MediaError else { return XCTFail("\(error)") }
        }
    }

    func testUnsafeNamesAndLimits() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["a/b/c/d/IM": [1], "ok": [2]])
        // A name with a control character and one that is not UTF-8.
        XCTAssertTrue(FileManager.default.createFile(atPath: kit.source.appendingPathComponent("bad\u{1}name").path, contents: Data([3])))
        let raw = kit.source.path + "/latin1-\u{FF}"
        var bytes = Array(raw.utf8.dropLast(2)) + [0xFF, 0]
        let fd = bytes.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { Glibc.open($0.baseAddress!, O_CREAT | O_WRONLY, 0o644) }
        }
        XCTAssertGreaterThanOrEqual(fd, 0)
        close(fd)

        let volume = try DirectoryVolume(path: kit.source.path)
        let walk = VolumeTestKit.walk(volume)
        // Both are read all the same, under stand-ins, and opened by their bytes on disk.
        XCTAssertEqual(walk.problems.count, 2)
        XCTAssertTrue(walk.problems.allSatisfy { if case .renamed = $0.error { true } else { false } })
        try VolumeTestKit.assertContents(volume, walk.entries, equal: ["a/b/c/d/IM": [1], "ok": [2], "bad%01name": [3], "latin1-%FF": []])
        XCTAssertEqual(Set(walk.entries.compactMap(\.path.mediumDescription)), ["/bad\\x01name", "/latin1-\\xFF"])

        var limits = WalkLimits()
        limits.maxDepth = 2
        let shallow = VolumeTestKit.walk(volume, limits: limits)
        XCTAssertTrue(shallow.problems.contains { $0.path.description == "/a/b" && ISO9660Tests.isLimit($0.error) })
        limits = WalkLimits()
        limits.maxTotalBytes = 1
        let bounded = VolumeTestKit.walk(volume, limits: limits)
        // "bad\u{1}name" takes the one byte; the empty "latin1-\u{FF}" fits any budget.
        XCTAssertEqual(bounded.entries.filter { $0.kind == .file }.count, 2)
        XCTAssertTrue(bounded.problems.contains { ISO9660Tests.isLimit($0.error) })
    }

    func testRootThatIsASymlinkIsRefused() throws {
        let kit = try VolumeTestKit()
        let link = kit.temp.path("link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: kit.source.path)
        XCTAssertThrowsError(try DirectoryVolume(path: link))
    }
}

final class SingleFileVolumeTests: XCTestCase {
    /// One file handed over by descriptor is a volume of that one file alone, read as it is (an
    /// `inspect` argument is never probed as an image).
    func testOneFileIsAVolumeOfOneEntryAndIsNeverProbed() throws {
        let kit = try VolumeTestKit()
        let bytes = VolumeTestKit.pattern(70_000, seed: 5)
        try kit.writeTree(["dir/IM1": bytes, "dir/IM2": [9, 9]])
        let path = kit.source.appendingPathComponent("dir/IM1").path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let opened = try MediaSource.open(descriptor: fd, path: path, oneFile: true)
        XCTAssertEqual(opened.volume.filesystem, .file)
        let walk = VolumeTestKit.walk(opened.volume)
        XCTAssertEqual(walk.problems, [])
        XCTAssertEqual(walk.entries.map(\.path.description), ["/IM1"], "the file alone, not its siblings")
        let file = try opened.volume.open(try XCTUnwrap(walk.entries.first))
        XCTAssertEqual(try file.readAll(), bytes)
        XCTAssertEqual(file.mediumRange, 0..<70_000)

        var limits = WalkLimits()
        limits.maxFileSize = 1000
        var problems: [MediaProblem] = []
        opened.volume.walk(limits: limits, visit: { _ in XCTFail("over the limit") }, problem: { problems.append($0) })
        XCTAssertEqual(problems.count, 1)

        let directory = open(kit.source.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(directory) }
        XCTAssertThrowsError(try MediaSource.open(descriptor: directory, path: kit.source.path, oneFile: true))
    }
}
