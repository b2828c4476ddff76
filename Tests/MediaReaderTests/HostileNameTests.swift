import Foundation
import TestSupport
import XCTest
@testable import MediaReader

/// Names on the medium are untrusted, the content is not lost: a file or directory whose name is
/// `..`, `..\x`, `../x`, `/etc/…` or holds control characters is reached by its extent or cluster
/// chain and listed under a stand-in, with the name from the medium kept (escaped) in its path.
/// Images come from genisoimage, mkfs.vfat + mcopy and mkfs.exfat; the tools refuse such names, so
/// each test writes a placeholder of the same length and patches the bytes of the name afterwards.
final class HostileNameTests: XCTestCase {
    /// Same-length patches of every occurrence of `from` in `bytes`, as the given encoding.
    static func patch(_ bytes: inout [UInt8], _ from: String, _ to: String, utf16: (big: Bool, on: Bool) = (false, false)) -> Int {
        func encode(_ text: String) -> [UInt8] {
            guard utf16.on else { return Array(text.utf8) }
            return Array(text.utf16).flatMap { utf16.big ? [UInt8($0 >> 8), UInt8($0 & 0xFF)] : [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        }
        let needle = encode(from), replacement = encode(to)
        precondition(needle.count == replacement.count)
        var count = 0
        var index = 0
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0], Array(bytes[index..<index + needle.count]) == needle {
                bytes.replaceSubrange(index..<index + needle.count, with: replacement)
                count += 1
                index += needle.count
            } else {
                index += 1
            }
        }
        return count
    }

    static func rewrite(_ path: String, _ change: (inout [UInt8]) throws -> Void) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        try change(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Walks, checks the stand-ins and that every file reads back byte-identical under them.
    static func check(_ volume: any Volume, expect files: [String: [UInt8]], originals: Set<String>, renamed: Int,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let walk = VolumeTestKit.walk(volume)
        XCTAssertTrue(walk.problems.allSatisfy { if case .renamed = $0.error { true } else { false } }, "\(walk.problems)", file: file, line: line)
        XCTAssertEqual(walk.problems.count, renamed, "one finding per renamed file or directory: \(walk.problems)", file: file, line: line)
        try VolumeTestKit.assertContents(volume, walk.entries, equal: files, file: file, line: line)
        let renamedFiles = walk.entries.filter { $0.kind == .file && $0.path.isRenamed }
        XCTAssertEqual(Set(renamedFiles.compactMap(\.path.mediumDescription)), originals, file: file, line: line)
        // Every path stays inside the root: no component a file system would read as a step.
        for entry in walk.entries {
            XCTAssertFalse(entry.path.components.contains { $0.isEmpty || $0 == "." || $0 == ".." || $0.contains("/") || $0.contains("\\") },
                           entry.path.description, file: file, line: line)
        }
    }

    func testJolietNamesWithDotDotBackslashSlashAndADirectoryNamedDotDot() throws {
        let kit = try VolumeTestKit()
        let files: [String: [UInt8]] = ["XXXevil.dcm": VolumeTestKit.pattern(5000, seed: 1), "QQ/inner.dcm": VolumeTestKit.pattern(3000, seed: 2),
                                        "ZetcZpasswd": [7, 7], "ok.dcm": [1]]
        try kit.writeTree(files)
        let iso = try kit.genisoimage(["-J"])
        // Joliet identifiers are UCS-2 big endian; the primary tree's are upper-case ASCII and stay.
        try Self.rewrite(iso) { bytes in
            XCTAssertGreaterThan(Self.patch(&bytes, "XXXevil", "..\\evil", utf16: (true, true)), 0)
            XCTAssertGreaterThan(Self.patch(&bytes, "ZetcZpasswd", "/etc/passwd", utf16: (true, true)), 0)
            XCTAssertGreaterThan(Self.patch(&bytes, "QQ", "..", utf16: (true, true)), 0)
        }
        let volume = try ISO9660Volume(path: iso)
        try Self.check(volume, expect: ["..%5Cevil.dcm": files["XXXevil.dcm"]!, "%2E%2E/inner.dcm": files["QQ/inner.dcm"]!,
                                        "%2Fetc%2Fpasswd": [7, 7], "ok.dcm": [1]],
                       originals: ["/..\\\\evil.dcm", "/../inner.dcm", "/\\x2Fetc\\x2Fpasswd"], renamed: 3)
    }

    func testRockRidgeNamesAndADirectoryWhoseNameIsDotDot() throws {
        let kit = try VolumeTestKit()
        // Rock Ridge carries POSIX names: a backslash and a newline are legal in them.
        let files: [String: [UInt8]] = ["..\\..\\evil.dcm": [1, 2, 3], "line\nbreak.dcm": [4], "QQ/inner.dcm": [5, 6], "QQ/deeper/x.dcm": [9]]
        try kit.writeTree(files)
        let iso = try kit.genisoimage(["-R"])
        // The NM entry of "QQ" (RRIP 4.1.4: "NM", length 7, version 1, flags 0, name) becomes "..":
        // libiso9660 cannot look that path up, so the directory is listed from its extent.
        try Self.rewrite(iso) { bytes in
            XCTAssertEqual(Self.patch(&bytes, "NM\u{7}\u{1}\u{0}QQ", "NM\u{7}\u{1}\u{0}.."), 1)
        }
        let volume = try ISO9660Volume(path: iso)
        try Self.check(volume, expect: ["..%5C..%5Cevil.dcm": [1, 2, 3], "line%0Abreak.dcm": [4], "%2E%2E/inner.dcm": [5, 6],
                                        "%2E%2E/deeper/x.dcm": [9]],
                       originals: ["/..\\\\..\\\\evil.dcm", "/line\\nbreak.dcm", "/../inner.dcm", "/../deeper/x.dcm"], renamed: 3)
    }

    func testPlainISO9660IdentifiersWithSlashAndADirectoryNamedDotDot() throws {
        let kit = try VolumeTestKit()
        let files: [String: [UInt8]] = ["XXXEVIL.DCM": [1, 2], "QQ/INNER.DCM": [3], "OK.DCM": [4]]
        try kit.writeTree(files)
        let iso = try kit.genisoimage([])
        // Level-1 identifiers are ASCII: "XXXEVIL.DCM;1" → "../EVIL.DCM;1", directory "QQ" → "..".
        try Self.rewrite(iso) { bytes in
            XCTAssertGreaterThan(Self.patch(&bytes, "XXXEVIL.DCM;1", "../EVIL.DCM;1"), 0)
            XCTAssertGreaterThan(Self.patch(&bytes, "\u{2}QQ", "\u{2}.."), 0)  // identifier length 2, then the name
        }
        let volume = try ISO9660Volume(path: iso)
        try Self.check(volume, expect: ["..%2FEVIL.DCM": [1, 2], "%2E%2E/INNER.DCM": [3], "OK.DCM": [4]],
                       originals: ["/..\\x2FEVIL.DCM", "/../INNER.DCM"], renamed: 2)
    }

    /// Two records with one name: libiso9660 would find only the first by name; the second is
    /// read by its extent (a file) or listed from it (a directory), under a stand-in.
    func testSecondISO9660RecordWithTheSameNameIsReadByItsExtent() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["AAAA/X.DAT": [1], "BBBB/Y.DAT": [2], "CCCC.DCM": [3], "DDDD.DCM": [4]])
        let iso = try kit.genisoimage([])
        try Self.rewrite(iso) { bytes in
            XCTAssertGreaterThan(Self.patch(&bytes, "\u{4}BBBB", "\u{4}AAAA"), 0)
            XCTAssertEqual(Self.patch(&bytes, "DDDD.DCM;1", "CCCC.DCM;1"), 1)
        }
        let volume = try ISO9660Volume(path: iso)
        try Self.check(volume, expect: ["AAAA/X.DAT": [1], "AAAA~2/Y.DAT": [2], "CCCC.DCM": [3], "CCCC.DCM~2": [4]],
                       originals: ["/AAAA/Y.DAT", "/CCCC.DCM"], renamed: 2)
    }

    func testUDFNamesWithDotDotSlashAndADirectoryNamedDotDot() throws {
        let kit = try VolumeTestKit()
        let files: [String: [UInt8]] = ["XXXevil.dcm": VolumeTestKit.pattern(3000, seed: 6), "QQ/inner.dcm": [5], "ok.dcm": [6]]
        try kit.writeTree(files)
        let iso = try kit.genisoimage(["-udf"])
        // UDF File Identifiers hold OSTA CS0 names (8-bit here); libudf and the Swift checks verify the
        // descriptor tag's checksum (its first 16 bytes), which the name does not touch.
        try Self.rewrite(iso) { bytes in
            let evil = Self.patch(&bytes, "XXXevil", "../evil") + Self.patch(&bytes, "XXXevil", "../evil", utf16: (true, true))
            XCTAssertGreaterThan(evil, 0)
            let dot = Self.patch(&bytes, "\u{8}QQ", "\u{8}..") + Self.patch(&bytes, "\u{10}\u{0}Q\u{0}Q", "\u{10}\u{0}.\u{0}.")
            XCTAssertGreaterThan(dot, 0)
        }
        let volume = try UDFVolume(path: iso)
        try Self.check(volume, expect: ["..%2Fevil.dcm": files["XXXevil.dcm"]!, "%2E%2E/inner.dcm": [5], "ok.dcm": [6]],
                       originals: ["/..\\x2Fevil.dcm", "/../inner.dcm"], renamed: 2)
    }

    func testFATLongNamesWithDotDotSlashAndAbsolutePaths() throws {
        let dir = try TestSupport.TemporaryDirectory("fat-names")
        let files: [String: [UInt8]] = ["XXXevil.dcm": VolumeTestKit.pattern(9000, seed: 3), "QQQsub/inner.dcm": VolumeTestKit.pattern(70_000, seed: 4),
                                        "ZetcZpasswd.dcm": [1], "plain.dcm": [2], "SHORT.DCM": [8]]
        let path = try FATVolumeTests.image(dir.path("fat.img"), fat: 16, label: "NAMES", sizeKiB: 20000, files: files,
                                            staging: dir.url.appendingPathComponent("src"))
        // Long names are UTF-16LE in the LFN entries; their checksum covers the 8.3 name, which
        // stays, so the patched long names still check out and are the names the reader uses.
        try Self.rewrite(path) { bytes in
            // The first five characters of a long name lie together in bytes 1–10 of its first entry.
            XCTAssertEqual(Self.patch(&bytes, "XXXev", "../ev", utf16: (false, true)), 1)
            XCTAssertEqual(Self.patch(&bytes, "QQQsu", "../su", utf16: (false, true)), 1)
            XCTAssertEqual(Self.patch(&bytes, "ZetcZ", "/etc/", utf16: (false, true)), 1)
            // An 8.3 name without a long name: "SHORT   DCM" → "SH\\RT   DCM" (a backslash in a short name).
            XCTAssertEqual(Self.patch(&bytes, "SHORT   DCM", "SH\\RT   DCM"), 1)
        }
        let volume = try FATVolume(image: SystemFile(readOnly: path))
        try Self.check(volume, expect: ["..%2Fevil.dcm": files["XXXevil.dcm"]!, "..%2Fsub/inner.dcm": files["QQQsub/inner.dcm"]!,
                                        "%2Fetc%2Fpasswd.dcm": [1], "plain.dcm": [2], "SH%5CRT.DCM": [8]],
                       originals: ["/..\\x2Fevil.dcm", "/..\\x2Fsub/inner.dcm", "/\\x2Fetc\\x2Fpasswd.dcm", "/SH\\\\RT.DCM"], renamed: 4)
    }

    func testExFATNamesWithDotDotSlashAndNUL() throws {
        let dir = try TestSupport.TemporaryDirectory("exfat-names")
        let image = dir.path("exfat.img")
        try TestSupport.run("truncate", ["-s", "16M", image])
        try TestSupport.run(try TestSupport.tool("mkfs.exfat"), ["-L", "NAMES", image])
        let files: [String: [UInt8]] = ["XXXevil.dcm": VolumeTestKit.pattern(20_000, seed: 5), "QQQsub/inner.dcm": [1, 2], "nulZname.dcm": [3]]
        try ExFATFill.fill(image, with: files, in: dir)
        // exFAT names are UTF-16LE in File Name entries, covered by the entry set's checksum: the
        // patch recomputes it, so the sets stay valid and only their names are hostile.
        try Self.rewrite(image) { bytes in
            for (from, to) in [("XXXevil", "../evil"), ("QQQsub", "../sub"), ("nulZname", "nul\u{0}name")] {
                let needle = Array(from.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
                let at = try XCTUnwrap(bytes.indices.dropLast(needle.count).first { Array(bytes[$0..<$0 + needle.count]) == needle }, from)
                XCTAssertEqual(Self.patch(&bytes, from, to, utf16: (false, true)), 1)
                try ExFATFill.fixSetChecksum(&bytes, nameAt: at)
            }
        }
        let volume = try ExFATVolume(image: SystemFile(readOnly: image))
        try Self.check(volume, expect: ["..%2Fevil.dcm": files["XXXevil.dcm"]!, "..%2Fsub/inner.dcm": [1, 2], "nul%00name.dcm": [3]],
                       originals: ["/..\\x2Fevil.dcm", "/..\\x2Fsub/inner.dcm", "/nul\\x00name.dcm"], renamed: 3)
    }

    func testStandInsNeverCollideWithRealNamesAndStayStable() {
        var siblings = SiblingNames(names: ["..%5Cx", "a", "A"])
        let first = siblings.child(of: .root, named: "..\\x")
        XCTAssertEqual(first.path.description, "/..%5Cx~2", "a real sibling already has the escaped name")
        XCTAssertEqual(siblings.child(of: .root, named: "..%5Cx").path.description, "/..%5Cx")
        XCTAssertEqual(siblings.child(of: .root, named: "a").renamed, nil)
        XCTAssertEqual(siblings.child(of: .root, named: "A").renamed, nil, "names that differ in case are both kept")
        XCTAssertEqual(siblings.child(of: .root, named: "a").path.description, "/a~2", "an exact duplicate gets a stand-in")
        XCTAssertEqual(siblings.child(of: .root, named: "").path.description, "/%")
        XCTAssertEqual(siblings.child(of: .root, named: ".").path.description, "/%2E")
        XCTAssertEqual(siblings.child(of: .root, named: [0x41, 0xFF, 0x2F]).path.description, "/A%FF%2F")
        let long = String(repeating: "é", count: 800)
        let cut = siblings.child(of: .root, named: long)
        XCTAssertLessThanOrEqual(cut.path.name.utf8.count, 210)
        XCTAssertEqual(cut.path.mediumDescription, "/" + long)
        // The same directory named again gives the same stand-ins.
        var again = SiblingNames(names: ["..%5Cx", "a", "A"])
        XCTAssertEqual(again.child(of: .root, named: "..\\x").path, first.path)
    }
}

/// Fills an exFAT image through exfat-fuse on a loop device (no tool fills exFAT without
/// mounting it); skips where loop devices or FUSE are unavailable. One script attaches, mounts,
/// copies, unmounts and detaches, so the FUSE daemon has ended (and released every descriptor)
/// before it returns.
enum ExFATFill {
    static func fill(_ image: String, with files: [String: [UInt8]], in dir: TestSupport.TemporaryDirectory) throws {
        let staging = dir.url.appendingPathComponent("content")
        for (path, bytes) in files {
            let url = staging.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        let script = """
            set -e
            dev=$("$1" -f --show "$2") || exit 77
            mkdir -p "$3"
            if ! "$4" "$dev" "$3" >/dev/null 2>&1 </dev/null; then "$1" -d "$dev"; exit 77; fi
            cp -r "$5"/. "$3"/
            umount "$3"
            "$1" -d "$dev"
            """
        let result = try TestSupport.run("/bin/bash", ["-c", script, "fill", try TestSupport.tool("losetup"), image, dir.path("mnt"),
                                                       try TestSupport.tool("mount.exfat-fuse"), staging.path], check: false)
        if result.status == 77 { throw XCTSkip("no loop device or FUSE here: exFAT fixtures cannot be filled") }
        XCTAssertEqual(result.status, 0, result.stderrText)
    }

    /// Recomputes the SetChecksum of the File entry set that holds the name bytes at `nameAt`.
    static func fixSetChecksum(_ bytes: inout [UInt8], nameAt: Int) throws {
        var start = nameAt - nameAt % 32
        while start >= 0 {
            if bytes[start] == 0x85, nameAt < start + (Int(bytes[start + 1]) + 1) * 32 { break }
            start -= 32
        }
        guard start >= 0 else { throw XCTSkip("no entry set found") }
        let set = Array(bytes[start..<start + (Int(bytes[start + 1]) + 1) * 32])
        let sum = ExFATVolume.setChecksum(set)
        bytes[start + 2] = UInt8(sum & 0xFF)
        bytes[start + 3] = UInt8(sum >> 8)
    }
}
