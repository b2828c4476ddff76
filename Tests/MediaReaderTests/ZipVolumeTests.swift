import Foundation
import XCTest
@testable import MediaReader

/// ZIP archives made by Info-ZIP `zip` and Python's `zipfile`, then patched by hand where no tool
/// makes the hostile case (lying sizes, overlapping entries, a claim of four billion entries).
/// Every hostile entry must give its own problem while the other entries are still read.
final class ZipVolumeTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("zipvolume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.currentDirectoryURL = directory
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw XCTSkip("\(tool) \(arguments) failed: \(process.terminationStatus)") }
    }

    /// Builds fixture `mode` (see `fixtures`) at `archive`.
    private func python(_ mode: String, _ archive: String, _ extra: [String] = []) throws {
        try run("python3", ["-c", ZipVolumeTests.fixtures, mode, path(archive)] + extra)
    }

    private struct Walked {
        let volume: ZipVolume
        var entries: [MediaEntry] = []
        var problems: [MediaProblem] = []
        var files: [String: MediaEntry] { Dictionary(entries.filter { $0.kind == .file }.map { ($0.path.description, $0) }, uniquingKeysWith: { a, _ in a }) }
        func problem(at path: String) -> MediaError? { problems.first { $0.path.description == path }?.error }
        func read(_ path: String) throws -> [UInt8] {
            guard let entry = files[path] else { XCTFail("\(path) not listed"); return [] }
            return try volume.open(entry).readAll()
        }
    }

    private func walk(_ archive: String, limits: WalkLimits = WalkLimits()) throws -> Walked {
        var walked = Walked(volume: try ZipVolume(archive: SystemFile(readOnly: path(archive))))
        walked.volume.walk(limits: limits, visit: { walked.entries.append($0) }, problem: { walked.problems.append($0) })
        return walked
    }

    private func bytes(_ file: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(file)))) }

    private func write(_ file: String, _ content: [UInt8]) throws {
        let url = URL(fileURLWithPath: path(file))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(content).write(to: url)
    }

    private func makeTree() throws -> [String: [UInt8]] {
        var generator = SystemRandomNumberGenerator()
        let files: [String: [UInt8]] = [
            "DICOM/ST1/IM1.bin": (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) },
            "DICOM/ST1/IM2": Array(String(repeating: "a compressible line of text\n", count: 20_000).utf8),
            "DICOM/empty": [],
            "notes/deep/er/readme.txt": Array("hello\n".utf8),
        ]
        for (name, content) in files { try write("tree/" + name, content) }
        return files
    }

    // MARK: Archives as tools make them

    func testStoredAndDeflatedEntriesReadBackByteIdenticalWithImpliedDirectories() throws {
        let files = try makeTree()
        try python("mixed", "mixed.zip", [path("tree")])
        try write("tree/inner.zip", try bytes("mixed.zip"))
        try run("sh", ["-c", "cd tree && zip -q -r ../info.zip ."])
        for archive in ["mixed.zip", "info.zip"] {
            let walked = try walk(archive)
            XCTAssertEqual(walked.problems, [], archive)
            for (name, content) in files { XCTAssertEqual(try walked.read("/" + name), content, "\(archive) \(name)") }
            let directories = Set(walked.entries.filter { $0.kind == .directory }.map(\.path.description))
            XCTAssertEqual(directories, ["/DICOM", "/DICOM/ST1", "/notes", "/notes/deep", "/notes/deep/er"], archive)
            XCTAssertEqual(walked.volume.filesystem, .zip)
        }
        // A nested archive is one file, not expanded.
        let info = try walk("info.zip")
        XCTAssertEqual(info.files["/inner.zip"]?.kind, .file)
        XCTAssertEqual(try info.read("/inner.zip"), try bytes("mixed.zip"))

        // A stored entry is a range of the archive; a deflated one is not.
        let mixed = try walk("mixed.zip")
        let stored = try mixed.volume.open(try XCTUnwrap(mixed.files["/DICOM/ST1/IM1.bin"]))
        let range = try XCTUnwrap(stored.mediumRange)
        XCTAssertEqual(Array(try bytes("mixed.zip")[Int(range.lowerBound) ..< Int(range.upperBound)]), files["DICOM/ST1/IM1.bin"])
        let deflated = try mixed.volume.open(try XCTUnwrap(mixed.files["/DICOM/ST1/IM2"]))
        XCTAssertNil(deflated.mediumRange)
        // Reads out of order restart the stream and still give the right bytes.
        let expected = try XCTUnwrap(files["DICOM/ST1/IM2"])
        XCTAssertEqual(try deflated.read(at: 400_000, count: 1000), Array(expected[400_000 ..< 401_000]))
        XCTAssertEqual(try deflated.read(at: 10, count: 100), Array(expected[10 ..< 110]))
        XCTAssertEqual(try deflated.read(at: 559_900, count: 1000), Array(expected[559_900...]))
        // One read fills the whole buffer, however the compressed data is split into pieces.
        var buffer = [UInt8](repeating: 0, count: 300_000)
        let count = try buffer.withUnsafeMutableBytes { raw in try deflated.read(at: 1, into: raw) }
        XCTAssertEqual(count, 300_000)
        XCTAssertEqual(buffer, Array(expected[1 ..< 300_001]))
    }

    func testDataDescriptorsOfAStreamedArchive() throws {
        try python("descriptor", "streamed.zip")
        let walked = try walk("streamed.zip")
        XCTAssertEqual(walked.problems, [])
        XCTAssertEqual(try walked.read("/streamed/a.txt"), Array(String(repeating: "hello descriptor\n", count: 1000).utf8))
        XCTAssertEqual(try walked.read("/streamed/stored.bin"), Array((0..<5000).map { UInt8($0 % 251) }))
    }

    func testZip64EndRecordAndExtraFields() throws {
        try python("zip64", "zip64.zip")
        let walked = try walk("zip64.zip")
        XCTAssertEqual(walked.problems, [])
        XCTAssertEqual(try walked.read("/forced.txt"), Array(String(repeating: "zip64 extra\n", count: 500).utf8))
        XCTAssertEqual(walked.entries.filter { $0.path.parent.description == "/many" }.count, 70_000)
    }

    func testSymlinkEntryIsListedNeverFollowed() throws {
        try write("links/target.txt", Array("target\n".utf8))
        try run("sh", ["-c", "cd links && ln -s /etc/passwd link && zip -q -y ../links.zip link target.txt"])
        let walked = try walk("links.zip")
        XCTAssertEqual(walked.problems, [])
        XCTAssertEqual(walked.entries.first { $0.path.description == "/link" }?.kind, .symlink)
        XCTAssertThrowsError(try walked.volume.open(try XCTUnwrap(walked.entries.first { $0.kind == .symlink })))
        XCTAssertEqual(try walked.read("/target.txt"), Array("target\n".utf8))
    }

    // MARK: Hostile archives

    func testZipSlipNamesGetStandInsInsideTheVolume() throws {
        try python("hostile", "slip.zip")
        let walked = try walk("slip.zip")
        let expected: [String: String] = [
            "/%2E%2E/%2E%2E/etc/passwd": "content 0",
            "/%/abs/root.txt": "content 1",
            "/dir%5C..%5C..%5Cevil.txt": "content 2",
            "/C%3A/Windows/win.ini": "content 3",
            "/ctl%01name.txt": "content 4",
            "/same.txt": "content 5",
            "/same.txt~2": "content 6",
            "/good.txt": "content 7",
            "/café.txt": "content 8",
            "/nul%00x.txt": "content 9",
        ]
        XCTAssertEqual(Set(walked.files.keys), Set(expected.keys))
        for (path, content) in expected { XCTAssertEqual(try walked.read(path), Array(content.utf8), path) }
        let renamed = walked.problems.compactMap { problem -> String? in
            if case .renamed = problem.error { return problem.path.description }
            return nil
        }
        XCTAssertEqual(Set(renamed), ["/%2E%2E", "/%2E%2E/%2E%2E", "/%", "/dir%5C..%5C..%5Cevil.txt", "/C%3A",
                                      "/ctl%01name.txt", "/same.txt~2", "/nul%00x.txt"])
        XCTAssertEqual(walked.problems.count, renamed.count)
    }

    func testEncryptedEntryRefusedOthersRead() throws {
        try write("enc/secret.txt", Array("patient data\n".utf8))
        try write("enc/plain.txt", Array("plain\n".utf8))
        try run("sh", ["-c", "cd enc && zip -q -P secret ../enc.zip secret.txt && zip -q ../enc.zip plain.txt"])
        let walked = try walk("enc.zip")
        guard case let .unsupported(text) = walked.problem(at: "/secret.txt") else { return XCTFail("\(walked.problems)") }
        XCTAssertTrue(text.contains("encrypted"), text)
        XCTAssertEqual(walked.problems.first?.unreadable?.path.description, "/secret.txt")
        XCTAssertNil(walked.files["/secret.txt"])
        XCTAssertEqual(try walked.read("/plain.txt"), Array("plain\n".utf8))
    }

    func testAESExtraFieldRefusedAsEncrypted() throws {
        try python("aes", "aes.zip")
        let walked = try walk("aes.zip")
        guard case let .unsupported(text) = walked.problem(at: "/aes.txt") else { return XCTFail("\(walked.problems)") }
        XCTAssertTrue(text.contains("encrypted"), text)
        XCTAssertEqual(try walked.read("/ok.txt"), Array("fine\n".utf8))
    }

    func testNamesDeeperThanTheLimitAreNotListed() throws {
        try python("deep", "deep.zip")
        var limits = WalkLimits()
        limits.maxDepth = 8
        let walked = try walk("deep.zip", limits: limits)
        XCTAssertEqual(Set(walked.files.keys), ["/shallow.txt"])
        guard case let .limitExceeded(text) = walked.problem(at: "/") else { return XCTFail("\(walked.problems)") }
        XCTAssertTrue(text.contains("deeper than 8 levels"), text)
    }

    func testTwoEndRecordsEndingTheFileAreAmbiguous() throws {
        try python("two-ends", "two-ends.zip")
        XCTAssertThrowsError(try walk("two-ends.zip")) { error in
            guard case .ambiguous = error as? MediaError else { return XCTFail("\(error)") }
        }
    }

    func testUnsupportedMethodRefusedOthersRead() throws {
        try python("bzip2", "bzip2.zip")
        let walked = try walk("bzip2.zip")
        guard case let .unsupported(text) = walked.problem(at: "/b.txt") else { return XCTFail("\(walked.problems)") }
        XCTAssertTrue(text.contains("method 12 (bzip2)"), text)
        XCTAssertNotNil(walked.problems.first?.unreadable)
        XCTAssertEqual(try walked.read("/ok.txt"), Array(String(repeating: "fine\n", count: 100).utf8))
    }

    func testCRCMismatchFailsTheReadOfThatFileOnly() throws {
        try python("crc", "crc.zip")
        let walked = try walk("crc.zip")
        XCTAssertEqual(walked.problems, [])
        for name in ["/stored.bin", "/deflated.txt"] {
            XCTAssertThrowsError(try walked.read(name), name) { error in
                guard case let .corrupt(text) = error as? MediaError else { return XCTFail("\(error)") }
                XCTAssertTrue(text.contains("CRC-32"), text)
            }
        }
        // Reading the stored file's tail alone still checks all of it.
        let stored = try walked.volume.open(try XCTUnwrap(walked.files["/stored.bin"]))
        XCTAssertThrowsError(try stored.read(at: 10_000, count: 240))
        XCTAssertEqual(try walked.read("/ok.txt"), Array("fine\n".utf8))
    }

    func testTruncatedArchiveIsRefusedClearly() throws {
        _ = try makeTree()
        try python("mixed", "cut.zip", [path("tree")])
        let whole = try bytes("cut.zip")
        try write("cut.zip", Array(whole[..<(whole.count / 2)]))
        XCTAssertThrowsError(try walk("cut.zip")) { error in
            guard case let .corrupt(text) = error as? MediaError else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains("end of central directory"), text)
        }
        try write("empty.zip", [])
        XCTAssertThrowsError(try walk("empty.zip"))
    }

    func testOneGibibyteOfZerosIsABomb() throws {
        try python("bomb", "bomb.zip")
        var limits = WalkLimits()
        limits.maxFileSize = 100 << 20
        let walked = try walk("bomb.zip", limits: limits)
        guard case let .limitExceeded(text) = walked.problem(at: "/zeros.img") else { return XCTFail("\(walked.problems)") }
        XCTAssertTrue(text.contains("zip bomb"), text)
        XCTAssertNil(walked.files["/zeros.img"])
        XCTAssertEqual(try walked.read("/readme.txt"), Array("not a bomb\n".utf8))
        // With the ratio allowed, the declared size alone is over the file limit.
        let lenient = try ZipVolume(archive: SystemFile(readOnly: path("bomb.zip")), maxRatio: 2000)
        var problems: [MediaProblem] = []
        lenient.walk(limits: limits, visit: { _ in }, problem: { problems.append($0) })
        guard case let .limitExceeded(size) = problems.first?.error, problems.count == 1 else { return XCTFail("\(problems)") }
        XCTAssertTrue(size.contains("file limit"), size)
    }

    func testDeclaredSizeLieStopsInflatingAtTheDeclaredSize() throws {
        try python("lie", "lie.zip")
        let walked = try walk("lie.zip")
        XCTAssertEqual(walked.problems, [])
        XCTAssertEqual(walked.files["/small.txt"]?.size, 1000)
        XCTAssertThrowsError(try walked.read("/small.txt")) { error in
            guard case let .limitExceeded(text) = error as? MediaError else { return XCTFail("\(error)") }
            XCTAssertTrue(text.contains("past its declared 1000 bytes"), text)
        }
        XCTAssertEqual(try walked.read("/readme.txt"), Array("fine\n".utf8))
    }

    func testCentralHeadersSharingOneLocalFileAreCrossLinks() throws {
        try python("overlap", "overlap.zip")
        let walked = try walk("overlap.zip")
        XCTAssertEqual(try walked.read("/kernel.bin"), [UInt8](repeating: 0, count: 100_000))
        XCTAssertEqual(try walked.read("/other.txt"), Array("separate\n".utf8))
        let crossLinks = walked.problems.filter { if case .crossLink = $0.error { true } else { false } }
        XCTAssertEqual(crossLinks.map(\.path.description).sorted(), ["/kernel.bin~2", "/kernel.bin~3", "/kernel.bin~4"])
        XCTAssertTrue(crossLinks.allSatisfy { $0.unreadable != nil })
    }

    func testLocalHeaderDisagreeingWithCentralDirectoryIsRefused() throws {
        try python("mismatch", "mismatch.zip")
        let walked = try walk("mismatch.zip")
        guard case let .corrupt(text) = walked.problem(at: "/a.txt") else { return XCTFail("\(walked.problems)") }
        XCTAssertTrue(text.contains("disagrees"), text)
        XCTAssertEqual(try walked.read("/b.txt"), Array("b\n".utf8))
    }

    func testFourBillionClaimedEntriesListsWhatIsThere() throws {
        try python("billions", "billions.zip")
        let walked = try walk("billions.zip")
        XCTAssertEqual(Set(walked.files.keys), ["/a.txt", "/b.txt"])
        guard case let .corrupt(text) = walked.problem(at: "/") else { return XCTFail("\(walked.problems)") }
        XCTAssertTrue(text.contains("4000000000"), text)
        XCTAssertEqual(try walked.read("/b.txt"), Array("b\n".utf8))
    }

    func testEntryLimitStopsTheWalk() throws {
        try python("zip64", "many.zip")
        var limits = WalkLimits()
        limits.maxEntries = 100
        let walked = try walk("many.zip", limits: limits)
        XCTAssertEqual(walked.entries.count, 100)
        XCTAssertTrue(walked.problems.contains { if case .limitExceeded = $0.error { true } else { false } })
    }

    /// Random byte changes to a small archive, most of them in its central directory and end
    /// record: every variant is refused or read without a crash, a hang or a huge allocation.
    func testMutatedArchivesNeverCrash() throws {
        try write("small/a.txt", Array(String(repeating: "some text\n", count: 300).utf8))
        try write("small/b.bin", (0..<2000).map { UInt8($0 % 256) })
        try python("mixed", "small.zip", [path("small")])
        let original = try bytes("small.zip")
        var random = SplitMix(seed: 0x5A1F)
        var limits = WalkLimits()
        limits.maxFileSize = 1 << 20
        for round in 0..<400 {
            var mutated = original
            for _ in 0 ... Int(random.next() % 6) {
                let tail = random.next() % 4 != 0
                let at = tail ? mutated.count - 1 - Int(random.next() % 160) : Int(random.next() % UInt64(mutated.count))
                mutated[at] = random.next() % 3 == 0 ? 0xFF : UInt8(truncatingIfNeeded: random.next())
            }
            try write("mutated.zip", mutated)
            guard let volume = try? ZipVolume(archive: SystemFile(readOnly: path("mutated.zip"))) else { continue }
            var files: [MediaEntry] = []
            volume.walk(limits: limits, visit: { if $0.kind == .file { files.append($0) } }, problem: { _ in })
            for entry in files { _ = try? volume.open(entry).readAll() }
            XCTAssertLessThanOrEqual(files.count, 2, "round \(round)")
        }
    }

    /// A small seeded generator, so a failing round can be replayed.
    private struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Fixture builders, by mode: `python3 -c fixtures MODE ARCHIVE [SOURCE]`.
    private static let fixtures = #"""
import os, struct, sys, zipfile

def patch(path, offset, fmt, value):
    with open(path, 'r+b') as f:
        f.seek(offset)
        f.write(struct.pack(fmt, value))

def end_record(data):
    at = data.rfind(b'PK\x05\x06')
    count, size, offset = struct.unpack_from('<HII', data, at + 10)
    return count, size, offset

def central(data):
    count, size, offset = end_record(data)
    records, at = [], offset
    while at < offset + size:
        n, e, c = struct.unpack_from('<HHH', data, at + 28)
        records.append(at)
        at += 46 + n + e + c
    return records

mode, out = sys.argv[1], sys.argv[2]
if mode == 'mixed':
    source = sys.argv[3]
    with zipfile.ZipFile(out, 'w') as z:
        for root, dirs, files in sorted(os.walk(source)):
            for name in sorted(files):
                full = os.path.join(root, name)
                z.write(full, os.path.relpath(full, source), zipfile.ZIP_STORED if name.endswith('.bin') else zipfile.ZIP_DEFLATED)
elif mode == 'descriptor':
    class Unseekable:
        def __init__(self, f): self.f = f
        def write(self, b): return self.f.write(b)
        def flush(self): self.f.flush()
    with open(out, 'wb') as f, zipfile.ZipFile(Unseekable(f), 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('streamed/a.txt', b'hello descriptor\n' * 1000)
        z.writestr('streamed/stored.bin', bytes(i % 251 for i in range(5000)), compress_type=zipfile.ZIP_STORED)
elif mode == 'zip64':
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
        with z.open('forced.txt', 'w', force_zip64=True) as w:
            w.write(b'zip64 extra\n' * 500)
        for i in range(70000):
            z.writestr('many/%05d' % i, b'')
elif mode == 'hostile':
    names = ['../../etc/passwd', '/abs/root.txt', 'dir\\..\\..\\evil.txt', 'C:/Windows/win.ini', 'ctl\x01name.txt',
             'same.txt', 'same.txt', 'good.txt', 'caf_.txt', 'nul_x.txt']
    import warnings
    warnings.simplefilter('ignore')
    with zipfile.ZipFile(out, 'w') as z:
        for i, name in enumerate(names):
            z.writestr(name, b'content %d' % i)
    data = open(out, 'rb').read()
    # CP437 0x82 is e-acute; no UTF-8 flag is set for an ASCII name. A NUL no tool writes.
    data = data.replace(b'caf_.txt', b'caf\x82.txt').replace(b'nul_x.txt', b'nul\x00x.txt')
    open(out, 'wb').write(data)
elif mode == 'aes':
    with zipfile.ZipFile(out, 'w') as z:
        info = zipfile.ZipInfo('aes.txt')
        # WinZip AES extra field (0x9901): version 2, vendor AE, AES-256, actual method deflate.
        info.extra = struct.pack('<HHH2sBH', 0x9901, 7, 2, b'AE', 3, 8)
        z.writestr(info, b'not really encrypted')
        z.writestr('ok.txt', b'fine\n')
elif mode == 'deep':
    with zipfile.ZipFile(out, 'w') as z:
        z.writestr('/'.join(['d'] * 5000) + '/x.txt', b'deep')
        z.writestr('shallow.txt', b'shallow')
elif mode == 'two-ends':
    with zipfile.ZipFile(out, 'w') as z:
        z.writestr('a.txt', b'a')
    data = open(out, 'rb').read()
    count, size, offset = end_record(data)
    # A comment holding a second end record that also ends the file.
    fake = struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 0, 0, 0, 0, 0)
    end = struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, count, count, size, offset, len(fake))
    open(out, 'wb').write(data[:offset + size] + end + fake)
elif mode == 'bzip2':
    with zipfile.ZipFile(out, 'w') as z:
        z.writestr('b.txt', b'bzip2 data\n' * 100, compress_type=zipfile.ZIP_BZIP2)
        z.writestr('ok.txt', b'fine\n' * 100, compress_type=zipfile.ZIP_DEFLATED)
elif mode == 'crc':
    with zipfile.ZipFile(out, 'w') as z:
        z.writestr('stored.bin', bytes(range(256)) * 40, compress_type=zipfile.ZIP_STORED)
        z.writestr('deflated.txt', b'crc check\n' * 5000, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr('ok.txt', b'fine\n', compress_type=zipfile.ZIP_DEFLATED)
    data = open(out, 'rb').read()
    for record in central(data)[:2]:
        crc, = struct.unpack_from('<I', data, record + 16)
        local, = struct.unpack_from('<I', data, record + 42)
        patch(out, record + 16, '<I', crc ^ 1)
        patch(out, local + 14, '<I', crc ^ 1)
elif mode == 'bomb':
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
        with z.open('zeros.img', 'w') as w:
            chunk = bytes(1 << 20)
            for _ in range(1024):
                w.write(chunk)
        z.writestr('readme.txt', b'not a bomb\n')
elif mode == 'lie':
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
        with z.open('small.txt', 'w') as w:
            for _ in range(64):
                w.write(bytes(1 << 20))
        z.writestr('readme.txt', b'fine\n')
    data = open(out, 'rb').read()
    record = central(data)[0]
    local, = struct.unpack_from('<I', data, record + 42)
    patch(out, record + 24, '<I', 1000)
    patch(out, local + 22, '<I', 1000)
elif mode == 'mismatch':
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('a.txt', b'a\n' * 100)
        z.writestr('b.txt', b'b\n')
    data = open(out, 'rb').read()
    record = central(data)[0]
    patch(out, record + 24, '<I', 150)
elif mode == 'overlap':
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('kernel.bin', bytes(100000))
        z.writestr('other.txt', b'separate\n')
    data = open(out, 'rb').read()
    count, size, offset = end_record(data)
    records = central(data)
    first = data[records[0]:records[1]]
    directory = data[offset:offset + size] + first * 3
    end = struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, count + 3, count + 3, len(directory), offset, 0)
    open(out, 'wb').write(data[:offset] + directory + end)
elif mode == 'billions':
    with zipfile.ZipFile(out, 'w') as z:
        z.writestr('a.txt', b'a\n')
        z.writestr('b.txt', b'b\n')
    data = open(out, 'rb').read()
    count, size, offset = end_record(data)
    body = data[:offset + size]
    record = struct.pack('<IQHHIIQQQQ', 0x06064b50, 44, 45, 45, 0, 0, 4000000000, 4000000000, size, offset)
    locator = struct.pack('<IIQI', 0x07064b50, 0, len(body), 1)
    end = struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    open(out, 'wb').write(body + record + locator + end)
"""#
}
