import Foundation
import TestSupport
import XCTest
@testable import DICOMCore

/// Crafted files that attack parsers (THREATS.md 6, 7, 8, 12): each ends in a typed error with an
/// offset, or a clean parse — never a crash, a hang or an allocation sized by a claimed length.
final class HostileInputTests: XCTestCase {
    /// Explicit VR little endian element bytes.
    private func element(_ group: UInt16, _ elem: UInt16, _ vr: String, _ value: [UInt8]) -> [UInt8] {
        var bytes = le16(group) + le16(elem) + Array(vr.utf8)
        if ["OB", "OW", "SQ", "UN", "UT"].contains(vr) { bytes += [0, 0] + le32(UInt32(value.count)) } else { bytes += le16(UInt16(value.count)) }
        return bytes + value
    }
    private func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }

    private func part10(_ dataSet: [UInt8], transferSyntax: String = "1.2.840.10008.1.2.1") -> [UInt8] {
        var ts = Array(transferSyntax.utf8)
        if ts.count & 1 == 1 { ts.append(0) }
        let meta = element(0x0002, 0x0010, "UI", ts)
        return [UInt8](repeating: 0, count: 128) + Array("DICM".utf8) + element(0x0002, 0x0000, "UL", le32(UInt32(meta.count))) + meta + dataSet
    }

    private func expectError(_ bytes: [UInt8], _ kind: DICOMParseError.Kind, options: ParsingOptions = ParsingOptions(),
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try DICOMReader.read(InMemoryByteSource(bytes), options: options), file: file, line: line) { error in
            XCTAssertEqual((error as? DICOMParseError)?.kind, kind, "\(error)", file: file, line: line)
        }
    }

    func testLyingLengthIsRefusedBeforeAllocation() {
        // (0010,0010) OB claiming 0xFFFFFFF0 bytes in a 200-byte file.
        var bytes = part10(element(0x0008, 0x0016, "UI", Array("1.2.3.4".utf8) + [0]))
        bytes += le16(0x0009) + le16(0x1010) + Array("OB".utf8) + [0, 0] + le32(0xFFFF_FFF0) + [1, 2, 3, 4]
        expectError(bytes, .truncated)
    }

    func testTwentyThousandNestedSequencesStopAtTheDepthLimit() {
        var body: [UInt8] = []
        let depth = 20_000
        for _ in 0..<depth {
            body += le16(0x0040) + le16(0xA730) + Array("SQ".utf8) + [0, 0] + le32(0xFFFF_FFFF)
            body += le16(0xFFFE) + le16(0xE000) + le32(0xFFFF_FFFF)
        }
        for _ in 0..<depth {
            body += le16(0xFFFE) + le16(0xE00D) + le32(0)
            body += le16(0xFFFE) + le16(0xE0DD) + le32(0)
        }
        expectError(part10(body), .nestingTooDeep)
        var deep = ParsingOptions()
        deep.maxDepth = depth + 1
        XCTAssertNoThrow(try DICOMReader.read(InMemoryByteSource(part10(body)), options: deep), "iterative: no stack overflow")
    }

    func testImplicitMetaGroupAndUnknownTransferSyntaxAreRefused() {
        var implicit = [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)
        implicit += le16(0x0002) + le16(0x0010) + le32(20) + Array("1.2.840.10008.1.2.1\0".utf8)
        expectError(implicit, .badMetaEncoding)
        expectError(part10(element(0x0008, 0x0016, "UI", Array("1.2".utf8)), transferSyntax: "1.2.3.4.5.6.7"), .unsupportedTransferSyntax)
    }

    func testTruncationAtEveryOffsetNeverCrashes() throws {
        let url = try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm")
        let bytes = [UInt8](try Data(contentsOf: url))
        var errors = 0
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            do { _ = try DICOMReader.read(InMemoryByteSource(Array(bytes[0..<cut]))) } catch { errors += 1 }
        }
        XCTAssertGreaterThan(errors, 0)
    }

    func testOneByteReadsGiveTheSameResult() throws {
        struct Trickle: ByteSource {
            let bytes: [UInt8]
            var count: Int64 { Int64(bytes.count) }
            func read(at offset: Int64, count: Int) throws -> [UInt8] { Array(bytes[Int(offset)..<Int(offset) + count]) }
        }
        let url = try TestSupport.pydicomTestFiles().appendingPathComponent("MR_small.dcm")
        let bytes = [UInt8](try Data(contentsOf: url))
        var options = ParsingOptions()
        options.inlineValueLimit = 64
        let small = try DICOMReader.read(Trickle(bytes: bytes), options: options)
        let whole = try DICOMReader.read(InMemoryByteSource(bytes), options: options)
        XCTAssertEqual(small.dataSet, whole.dataSet)
        // Deferred Pixel Data written from the source equals the inline write.
        let write = WriteOptions(implementationClassUID: "1.2.3", implementationVersionName: "T")
        XCTAssertEqual(try DICOMWriter.data(small, source: Trickle(bytes: bytes), options: write),
                       try DICOMWriter.data(DICOMReader.read(InMemoryByteSource(bytes)), source: InMemoryByteSource(bytes), options: write))
    }

    func testBytesAfterTheDataSetAreTrailingData() throws {
        let url = try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm")
        let bytes = [UInt8](try Data(contentsOf: url))
        let zip: [UInt8] = [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0x41, count: 60)
        let file = try DICOMReader.read(InMemoryByteSource(bytes + zip))
        XCTAssertEqual(file.trailingBytes, Int64(bytes.count)..<Int64(bytes.count + zip.count))
    }

    func testCorruptDeflateStreamIsAnInflateError() throws {
        let url = try TestSupport.pydicomTestFiles().appendingPathComponent("image_dfl.dcm")
        var bytes = [UInt8](try Data(contentsOf: url))
        XCTAssertNoThrow(try DICOMReader.read(InMemoryByteSource(bytes)))
        for i in stride(from: bytes.count - 400, to: bytes.count - 200, by: 1) { bytes[i] = 0xFF }
        XCTAssertThrowsError(try DICOMReader.read(InMemoryByteSource(bytes)))
        var capped = ParsingOptions()
        capped.maxFileSize = 10_000
        let original = [UInt8](try Data(contentsOf: url))
        XCTAssertThrowsError(try DICOMReader.read(InMemoryByteSource(original), options: capped))
    }

    func testDICOMDIRLoopAndTraversalAreReported() throws {
        let dir = try TestSupport.TemporaryDirectory("dicomdir")
        let out = dir.path("DICOMDIR")
        // pydicom writes a real DICOMDIR; then the second record's "next" is pointed back at the first.
        try TestSupport.writeDICOMDIR(referencing: [["DICOM", "IM1"], ["..", "..", "etc", "passwd"]], to: out)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
        // Find both items (FFFE,E000) inside the record sequence and link them into a cycle.
        let itemTag: [UInt8] = [0xFE, 0xFF, 0x00, 0xE0]
        let items = bytes.indices.dropLast(4).filter { Array(bytes[$0..<$0 + 4]) == itemTag }
        XCTAssertEqual(items.count, 2)
        func patch(_ tag: [UInt8], in item: Int, to value: UInt32) {
            let at = bytes[item...].indices.dropLast(8).first { Array(bytes[$0..<$0 + 4]) == tag }!
            bytes.replaceSubrange(at + 8..<at + 12, with: le32(value))
        }
        let nextTag: [UInt8] = [0x04, 0x00, 0x00, 0x14]
        let firstTag: [UInt8] = [0x04, 0x00, 0x00, 0x12]
        patch(firstTag, in: 0, to: UInt32(items[0]))
        patch(nextTag, in: items[0], to: UInt32(items[1]))
        patch(nextTag, in: items[1], to: UInt32(items[0]))
        let source = InMemoryByteSource(bytes)
        let directory = try DICOMDirectory.parse(try DICOMReader.read(source), source: source)
        XCTAssertEqual(directory.records.count, 2)
        XCTAssertTrue(directory.issues.contains { $0.isLoop })
        XCTAssertEqual(directory.records.last?.referencedFileID, ["..", "..", "etc", "passwd"], "returned raw; the caller refuses it")
    }

    func testPydicomDICOMDIRTree() throws {
        let url = try TestSupport.pydicomTestFiles().appendingPathComponent("dicomdirtests/DICOMDIR")
        let source = InMemoryByteSource([UInt8](try Data(contentsOf: url)))
        let directory = try DICOMDirectory.parse(try DICOMReader.read(source), source: source)
        XCTAssertEqual(directory.issues, [])
        let referenced = directory.records.compactMap(\.referencedFileID)
        XCTAssertGreaterThan(referenced.count, 20)
        for components in referenced {
            let path = url.deletingLastPathComponent().appendingPathComponent(components.joined(separator: "/")).path
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), path)
        }
    }

    func testDictionary() {
        XCTAssertEqual(DataDictionary.entry(for: Tag(0x7FE0, 0x0010))?.vrs, [.OB, .OW])
        XCTAssertEqual(DataDictionary.entry(for: Tag(0x0010, 0x0010))?.vr, .PN)
        XCTAssertEqual(DataDictionary.entry(for: Tag(0x6002, 0x3000))?.keyword, "OverlayData")
        XCTAssertNil(DataDictionary.entry(for: Tag(0x6001, 0x3000)), "odd groups are private, not overlays")
        XCTAssertEqual(DataDictionary.tag(forKeyword: "StudyInstanceUID"), Tag(0x0020, 0x000D))
    }
}
