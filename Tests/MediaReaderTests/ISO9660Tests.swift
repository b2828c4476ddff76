import Foundation
import TestSupport
import XCTest
@testable import MediaReader

final class ISO9660Tests: XCTestCase {
    func testLevel1NamesLoseVersionAndTrailingDot() throws {
        let kit = try VolumeTestKit()
        let files: [String: [UInt8]] = [
            "README.TXT": Array("hello\n".utf8),
            "DICOM/IM000001": VolumeTestKit.pattern(70_000, seed: 1),
            "DICOM/ST000001/SE000001/IM000002": VolumeTestKit.pattern(4096, seed: 2),
            "DICOM/EMPTY.DAT": [],
        ]
        try kit.writeTree(files)
        let iso = try kit.genisoimage(["-V", "STUDY_CD"])
        let volume = try ISO9660Volume(path: iso)
        XCTAssertEqual(volume.label, "STUDY_CD")
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems, [])
        XCTAssertEqual(Set(walk.entries.map(\.path.description)),
                       ["/README.TXT", "/DICOM", "/DICOM/IM000001", "/DICOM/EMPTY.DAT", "/DICOM/ST000001",
                        "/DICOM/ST000001/SE000001", "/DICOM/ST000001/SE000001/IM000002"])
        try VolumeTestKit.assertContents(volume, walk.entries, equal: files)
        // Directories come before their contents.
        let order = walk.entries.map(\.path.description)
        XCTAssertLessThan(order.firstIndex(of: "/DICOM")!, order.firstIndex(of: "/DICOM/IM000001")!)
    }

    func testJolietKeepsLongUnicodeNames() throws {
        let kit = try VolumeTestKit()
        // CJK characters take 3 bytes in UTF-8 but 2 in UCS-2: libiso9660 2.1.0 would cut this name.
        let name = "Étude très longue — 病院 scan 2024.dcm"
        let files: [String: [UInt8]] = [name: VolumeTestKit.pattern(10_000, seed: 3),
                                        "Sous-dossier/fichier ñ.txt": Array("ñ".utf8)]
        try kit.writeTree(files)
        let volume = try ISO9660Volume(path: try kit.genisoimage(["-J", "-joliet-long", "-input-charset", "utf-8"]))
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems, [])
        XCTAssertEqual(Set(walk.entries.map(\.path.description)), ["/\(name)", "/Sous-dossier", "/Sous-dossier/fichier ñ.txt"])
        try VolumeTestKit.assertContents(volume, walk.entries, equal: files)
    }

    func testRockRidgeDeepTreeAndSymlinkNeverFollowed() throws {
        let kit = try VolumeTestKit()
        // 11 levels: genisoimage relocates levels over 8 into rr_moved (CL/RE), xorriso does not.
        let deep = "a/b/c/d/e/f/g/h/i/j/deep file.dcm"
        let files: [String: [UInt8]] = [deep: VolumeTestKit.pattern(5000, seed: 4), "a/b/lower case.txt": Array("x".utf8)]
        try kit.writeTree(files)
        try FileManager.default.createSymbolicLink(atPath: kit.source.appendingPathComponent("a/b/passwd").path,
                                                   withDestinationPath: "../../etc/passwd")
        let xorriso = kit.temp.path("xorriso.iso")
        try TestSupport.run(try TestSupport.tool("xorriso"), ["-as", "mkisofs", "-quiet", "-R", "-J", "-o", xorriso, kit.source.path])
        for image in [try kit.genisoimage(["-R", "-J"]), xorriso] {
            let volume = try ISO9660Volume(path: image)
            let walk = VolumeTestKit.walk(volume)
            XCTAssertEqual(walk.problems, [], image)
            XCTAssertTrue(walk.entries.contains { $0.path.description == "/a/b/c/d/e/f/g/h/i/j" && $0.kind == .directory }, image)
            let link = try XCTUnwrap(walk.entries.first { $0.path.description == "/a/b/passwd" })
            XCTAssertEqual(link.kind, .symlink)
            XCTAssertThrowsError(try volume.open(link))
            XCTAssertFalse(walk.entries.contains { $0.path.components.contains("etc") })
            try VolumeTestKit.assertContents(volume, walk.entries, equal: files)

            var shallow = WalkLimits()
            shallow.maxDepth = 3
            let bounded = VolumeTestKit.walk(volume, limits: shallow)
            XCTAssertTrue(bounded.problems.contains { $0.path.description == "/a/b/c" && Self.isLimit($0.error) })
            XCTAssertFalse(bounded.entries.contains { $0.path.depth > 3 })

            var few = WalkLimits()
            few.maxEntries = 3
            XCTAssertEqual(VolumeTestKit.walk(volume, limits: few).entries.count, 3)
        }
    }

    /// libiso9660 looks paths up by name and also matches the lower-cased form of plain names:
    /// "aaaa" would resolve to the earlier "AAAA", whose (hostile) extent was never checked. So
    /// "aaaa" is listed from its own extent, never through its name; "AAAA" is refused, and listed
    /// as unreadable, since nothing in it can be read.
    func testNameShadowedInPathLookupsIsListedByItsExtent() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["AAAA/X.DAT": [1], "BBBB/Y.DAT": [2], "TOP.DAT": [3]])
        let iso = try kit.genisoimage([])
        var image = try Data(contentsOf: URL(fileURLWithPath: iso))
        let root = VolumeTestKit.rootExtent(image)
        let a = try XCTUnwrap(VolumeTestKit.record(named: "AAAA", inDirectoryAt: root, of: image))
        let b = try XCTUnwrap(VolumeTestKit.record(named: "BBBB", inDirectoryAt: root, of: image))
        image.replaceSubrange((b.offset + 33)..<(b.offset + 37), with: Data("aaaa".utf8))
        // AAAA claims a 4 GiB directory: libiso9660 would allocate that much to read it.
        for i in 0..<4 { image[a.offset + 10 + i] = 0xFF; image[a.offset + 17 - i] = 0xFF }
        try image.write(to: URL(fileURLWithPath: iso))

        let volume = try ISO9660Volume(path: iso)
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems.map(\.path.description), ["/AAAA"])
        XCTAssertEqual(walk.problems.first?.unreadable?.kind, .directory)
        try VolumeTestKit.assertContents(volume, walk.entries, equal: ["TOP.DAT": [3], "aaaa/Y.DAT": [2]])
    }

    func testUnsafeRockRidgeNameGetsAStandIn() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["ok.dcm": [1], "bad\u{1B}[2Jname.dcm": [2]])
        let volume = try ISO9660Volume(path: try kit.genisoimage(["-R"]))
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems.map(\.error), [.renamed("/bad\\x1B[2Jname.dcm", as: "/bad%1B[2Jname.dcm", reason: "control character in name")])
        try VolumeTestKit.assertContents(volume, walk.entries, equal: ["ok.dcm": [1], "bad%1B[2Jname.dcm": [2]])
        let renamed = try XCTUnwrap(walk.entries.first { $0.path.isRenamed })
        XCTAssertEqual(renamed.path.mediumDescription, "/bad\\x1B[2Jname.dcm")
    }

    func testRockRidgeChildLinkToAnAncestorIsALoop() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["1/2/3/4/5/6/7/8/9/deep.dcm": [1], "top.dcm": [2]])
        let iso = try kit.genisoimage(["-R"])
        var image = try Data(contentsOf: URL(fileURLWithPath: iso))
        // The CL entry of placeholder "8" (RRIP 4.1.5.1: "CL", length 12, version 1, location both-endian).
        let at = try XCTUnwrap(image.range(of: Data("CL".utf8) + Data([12, 1]))).lowerBound
        let root = VolumeTestKit.rootExtent(image)
        for i in 0..<4 {
            image[at + 4 + i] = UInt8(truncatingIfNeeded: root >> (8 * UInt32(i)))
            image[at + 11 - i] = UInt8(truncatingIfNeeded: root >> (8 * UInt32(i)))
        }
        try image.write(to: URL(fileURLWithPath: iso))

        let volume = try ISO9660Volume(path: iso)
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems.map(\.path.description), ["/1/2/3/4/5/6/7/8", "/rr_moved/8"])
        guard case .loop = walk.problems.first?.error else { return XCTFail("\(walk.problems)") }
        // The directory the link no longer reaches is still listed, at its physical place.
        try VolumeTestKit.assertContents(volume, walk.entries, equal: ["top.dcm": [2], "rr_moved/8/9/deep.dcm": [1]])
    }

    func testDirectoryPointingAtItsParentIsALoop() throws {
        let kit = try VolumeTestKit()
        let files: [String: [UInt8]] = ["A/B/INNER.DAT": [1, 2, 3], "A/FILE.DAT": [4, 5], "TOP.DAT": [6]]
        try kit.writeTree(files)
        let iso = try kit.genisoimage([])
        var image = try Data(contentsOf: URL(fileURLWithPath: iso))
        let root = VolumeTestKit.rootExtent(image)
        let a = try XCTUnwrap(VolumeTestKit.record(named: "A", inDirectoryAt: root, of: image))
        let b = try XCTUnwrap(VolumeTestKit.record(named: "B", inDirectoryAt: a.extent, of: image))
        VolumeTestKit.setExtent(a.extent, ofRecordAt: b.offset, in: &image)
        try image.write(to: URL(fileURLWithPath: iso))

        let volume = try ISO9660Volume(path: iso)
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems.map(\.path.description), ["/A/B"])
        XCTAssertEqual(walk.problems.first?.error, .loop("/A/B points back to the extent of an enclosing directory"))
        try VolumeTestKit.assertContents(volume, walk.entries, equal: ["A/FILE.DAT": [4, 5], "TOP.DAT": [6]])
    }

    func testExtentBeyondTheImageIsAProblemAndTheRestReads() throws {
        let kit = try VolumeTestKit()
        let files: [String: [UInt8]] = ["GOOD.DAT": VolumeTestKit.pattern(3000, seed: 5), "BAD.DAT": [9, 9, 9]]
        try kit.writeTree(files)
        let iso = try kit.genisoimage([])
        var image = try Data(contentsOf: URL(fileURLWithPath: iso))
        let bad = try XCTUnwrap(VolumeTestKit.record(named: "BAD.DAT;1", inDirectoryAt: VolumeTestKit.rootExtent(image), of: image))
        VolumeTestKit.setExtent(0x00F0_0000, ofRecordAt: bad.offset, in: &image)
        try image.write(to: URL(fileURLWithPath: iso))

        let volume = try ISO9660Volume(path: iso)
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems.map(\.path.description), ["/BAD.DAT"])
        guard case .corrupt = walk.problems.first?.error else { return XCTFail("\(walk.problems)") }
        try VolumeTestKit.assertContents(volume, walk.entries, equal: ["GOOD.DAT": files["GOOD.DAT"]!])
    }

    func testTruncatedImageFailsOnlyTheCutFile() throws {
        let kit = try VolumeTestKit()
        let files: [String: [UInt8]] = ["ONE.DAT": VolumeTestKit.pattern(100_000, seed: 6),
                                        "TWO.DAT": VolumeTestKit.pattern(100_000, seed: 7)]
        try kit.writeTree(files)
        let iso = try kit.genisoimage([])
        let entries = VolumeTestKit.walk(try ISO9660Volume(path: iso)).entries
        let last = try XCTUnwrap(entries.max { $0.locator.start < $1.locator.start })
        let cut = last.locator.start + last.size / 2
        XCTAssertEqual(truncate(iso, off_t(cut)), 0)

        let volume = try ISO9660Volume(path: iso)
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems.map(\.path), [last.path])
        guard case .shortRead = walk.problems.first?.error else { return XCTFail("\(walk.problems)") }
        let other = last.path.name == "ONE.DAT" ? "TWO.DAT" : "ONE.DAT"
        try VolumeTestKit.assertContents(volume, walk.entries, equal: [other: files[other]!])
    }

    func testShortRockRidgeNameEntryIsRejectedBeforeLibiso9660ParsesIt() throws {
        let kit = try VolumeTestKit()
        try kit.writeTree(["sub/victim.txt": [1], "keep.txt": [2]])
        let iso = try kit.genisoimage(["-R"])
        var image = try Data(contentsOf: URL(fileURLWithPath: iso))
        let root = VolumeTestKit.rootExtent(image)
        let sub = try XCTUnwrap(VolumeTestKit.record(named: "SUB", inDirectoryAt: root, of: image))
        // Find the NM entry of "victim.txt" in sub's extent and make it claim 4 bytes (< 5).
        let start = Int(sub.extent) * 2048
        let region = image[start..<(start + 2048)]
        let marker = Data("NM".utf8) + Data([15, 1, 0]) + Data("victim.txt".utf8)
        let at = try XCTUnwrap(region.range(of: marker)).lowerBound
        image[at + 2] = 4
        try image.write(to: URL(fileURLWithPath: iso))

        let volume = try ISO9660Volume(path: iso)
        let walk = VolumeTestKit.walk(volume)
        XCTAssertEqual(walk.problems.map(\.path.description), ["/sub"])
        guard case .corrupt = walk.problems.first?.error else { return XCTFail("\(walk.problems)") }
        try VolumeTestKit.assertContents(volume, walk.entries, equal: ["keep.txt": [2]])
    }

    func testNotAnISOImageIsUnsupported() throws {
        let kit = try VolumeTestKit()
        let path = kit.temp.path("random.bin")
        try Data(VolumeTestKit.pattern(64 * 1024, seed: 8)).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ISO9660Volume(path: path)) { error in
            guard case .unsupported = error as? MediaError else { return XCTFail("\(error)") }
        }
    }

    /// Throughput of reading every file of a ~600 MB ISO with a warm cache. Set
    /// KIOSK_MEDIA_PERF=1 to run; prints MB/s, asserts nothing about time.
    func testReadThroughputOfLargeImage() throws {
        guard ProcessInfo.processInfo.environment["KIOSK_MEDIA_PERF"] != nil else {
            throw XCTSkip("set KIOSK_MEDIA_PERF=1 to measure read throughput")
        }
        let kit = try VolumeTestKit()
        let chunk = VolumeTestKit.pattern(1 << 20, seed: 9)
        for index in 0..<30 {
            var data = Data()
            for _ in 0..<20 { data.append(contentsOf: chunk) }
            try kit.writeTree(["DATA/F\(index).BIN": Array(data)])
        }
        let iso = try kit.genisoimage([])
        let volume = try ISO9660Volume(path: iso)
        let files = VolumeTestKit.walk(volume).entries.filter { $0.kind == .file }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        func readAll() throws -> (Int64, TimeInterval) {
            let start = Date()
            var total: Int64 = 0
            for entry in files {
                let file = try volume.open(entry)
                var offset: Int64 = 0
                while offset < entry.size {
                    let n = try buffer.withUnsafeMutableBytes { try file.read(at: offset, into: $0) }
                    offset += Int64(n)
                }
                total += offset
            }
            return (total, Date().timeIntervalSince(start))
        }
        _ = try readAll()  // warm the page cache
        let (bytes, seconds) = try readAll()
        print("ISO9660 read throughput: \(bytes >> 20) MiB in \(String(format: "%.3f", seconds)) s = \(String(format: "%.0f", Double(bytes) / 1e6 / seconds)) MB/s")
    }

    static func isLimit(_ error: MediaError) -> Bool {
        if case .limitExceeded = error { return true }
        return false
    }
}

/// Fixture building and checking shared by the ISO9660, UDF, directory and probe tests.
struct VolumeTestKit {
    let temp: TestSupport.TemporaryDirectory
    let source: URL

    init() throws {
        temp = try TestSupport.TemporaryDirectory("media")
        source = temp.url.appendingPathComponent("source")
        try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
    }

    func writeTree(_ files: [String: [UInt8]]) throws {
        for (path, bytes) in files {
            let url = source.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
    }

    /// genisoimage on `source`; returns the image path.
    func genisoimage(_ options: [String], name: String = "image.iso") throws -> String {
        let output = temp.path(name)
        try TestSupport.run(try TestSupport.tool("genisoimage"), ["-quiet", "-o", output] + options + [source.path])
        return output
    }

    /// An all-zero file of `bytes` bytes (sparse), for mkfs tools that format an existing file.
    static func sparseFile(_ path: String, bytes: Int64) throws {
        try Data().write(to: URL(fileURLWithPath: path))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(bytes))
        try handle.close()
    }

    /// Deterministic bytes that differ between files and offsets.
    static func pattern(_ count: Int, seed: UInt32) -> [UInt8] {
        var state = seed &* 2_654_435_761 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 17; state ^= state << 5
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func walk(_ volume: any Volume, limits: WalkLimits = WalkLimits()) -> (entries: [MediaEntry], problems: [MediaProblem]) {
        var entries: [MediaEntry] = [], problems: [MediaProblem] = []
        volume.walk(limits: limits, visit: { entries.append($0) }, problem: { problems.append($0) })
        return (entries, problems)
    }

    /// Every file entry reads back byte-identical to `files` (keys relative to the root), and
    /// every key was found.
    static func assertContents(_ volume: any Volume, _ entries: [MediaEntry], equal files: [String: [UInt8]],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let found = Dictionary(entries.filter { $0.kind == .file }.map { ($0.path.description, $0) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(Set(found.keys), Set(files.keys.map { "/" + $0 }), file: file, line: line)
        for (path, expected) in files {
            guard let entry = found["/" + path] else { continue }
            XCTAssertEqual(entry.size, Int64(expected.count), path, file: file, line: line)
            XCTAssertEqual(try volume.open(entry).readAll(), expected, path, file: file, line: line)
        }
    }

    // ECMA-119 bits the hostile tests patch: PVD at sector 16, root record at 156, record
    // extent both-endian at +2 (LE) and +6 (BE), identifier length at +32, identifier at +33.
    static func rootExtent(_ image: Data) -> UInt32 { le32(image, 16 * 2048 + 156 + 2) }

    static func record(named name: String, inDirectoryAt extent: UInt32, of image: Data) -> (offset: Int, extent: UInt32)? {
        let start = Int(extent) * 2048
        var offset = start
        while offset < start + 2048 {
            let length = Int(image[offset])
            if length == 0 { break }
            let identifier = image[(offset + 33)..<(offset + 33 + Int(image[offset + 32]))]
            if identifier.elementsEqual(name.utf8) { return (offset, le32(image, offset + 2)) }
            offset += length
        }
        return nil
    }

    static func setExtent(_ extent: UInt32, ofRecordAt offset: Int, in image: inout Data) {
        for i in 0..<4 {
            image[offset + 2 + i] = UInt8(truncatingIfNeeded: extent >> (8 * UInt32(i)))
            image[offset + 9 - i] = UInt8(truncatingIfNeeded: extent >> (8 * UInt32(i)))
        }
    }

    static func le32(_ data: Data, _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(data[data.startIndex + at + $1]) << (8 * UInt32($1)) }
    }
}
