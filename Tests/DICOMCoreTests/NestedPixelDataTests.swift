import Foundation
import TestSupport
import XCTest
@testable import DICOMCore

/// Encapsulated Pixel Data inside an item (an Icon Image Sequence of a compressed image, PS3.3
/// F.7; legal, and read by pydicom and dcmtk) parses at any depth and is written back unchanged.
final class NestedPixelDataTests: XCTestCase {
    private func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
    private func element(_ group: UInt16, _ elem: UInt16, _ vr: String, _ value: [UInt8]) -> [UInt8] {
        var bytes = le16(group) + le16(elem) + Array(vr.utf8)
        if ["OB", "OW", "SQ", "UN", "UT"].contains(vr) { bytes += [0, 0] + le32(UInt32(value.count)) } else { bytes += le16(UInt16(value.count)) }
        return bytes + value
    }
    private func text(_ s: String, pad: UInt8 = 0x20) -> [UInt8] { let b = Array(s.utf8); return b.count & 1 == 1 ? b + [pad] : b }
    private func item(_ content: [UInt8], undefined: Bool = false) -> [UInt8] {
        undefined ? le16(0xFFFE) + le16(0xE000) + le32(0xFFFF_FFFF) + content + le16(0xFFFE) + le16(0xE00D) + le32(0)
                  : le16(0xFFFE) + le16(0xE000) + le32(UInt32(content.count)) + content
    }
    /// (7FE0,0010) OB of undefined length: an empty offset table, then the fragments.
    private func encapsulated(_ fragments: [[UInt8]]) -> [UInt8] {
        var bytes = le16(0x7FE0) + le16(0x0010) + Array("OB".utf8) + [0, 0] + le32(0xFFFF_FFFF) + item([])
        for fragment in fragments { bytes += item(fragment) }
        return bytes + le16(0xFFFE) + le16(0xE0DD) + le32(0)
    }
    /// A JPEG-looking fragment (SOI … EOI), even length.
    private let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x04, 0x01, 0x02, 0xFF, 0xD9]

    private func iconItem(_ fragments: [[UInt8]], undefined: Bool) -> [UInt8] {
        item(element(0x0028, 0x0002, "US", le16(1)) + element(0x0028, 0x0004, "CS", text("MONOCHROME2"))
             + element(0x0028, 0x0010, "US", le16(4)) + element(0x0028, 0x0011, "US", le16(4))
             + element(0x0028, 0x0100, "US", le16(8)) + encapsulated(fragments), undefined: undefined)
    }

    /// A JPEG baseline file whose icon is encapsulated, at the top level and two levels down
    /// (Referenced Image Sequence item → Icon Image Sequence item), items of both length kinds.
    private func file(undefinedItems: Bool) -> [UInt8] {
        let sqUndefined = le32(0xFFFF_FFFF)
        func sequence(_ group: UInt16, _ elem: UInt16, _ items: [UInt8]) -> [UInt8] {
            undefinedItems ? le16(group) + le16(elem) + Array("SQ".utf8) + [0, 0] + sqUndefined + items + le16(0xFFFE) + le16(0xE0DD) + le32(0)
                           : element(group, elem, "SQ", items)
        }
        let nested = sequence(0x0088, 0x0200, iconItem([jpeg, [0x01, 0x02]], undefined: undefinedItems))
        var body = element(0x0008, 0x0016, "UI", text("1.2.840.10008.5.1.4.1.1.7", pad: 0))
        body += element(0x0008, 0x0018, "UI", text("1.2.3.4.5", pad: 0))
        body += sequence(0x0008, 0x1140, item(element(0x0008, 0x1150, "UI", text("1.2.840.10008.5.1.4.1.1.7", pad: 0)) + nested,
                                               undefined: undefinedItems))
        body += element(0x0028, 0x0010, "US", le16(4)) + element(0x0028, 0x0011, "US", le16(4))
        body += sequence(0x0088, 0x0200, iconItem([jpeg], undefined: undefinedItems))
        body += encapsulated([jpeg])
        let ts = text("1.2.840.10008.1.2.4.50", pad: 0)
        let meta = element(0x0002, 0x0010, "UI", ts)
        return [UInt8](repeating: 0, count: 128) + Array("DICM".utf8) + element(0x0002, 0x0000, "UL", le32(UInt32(meta.count))) + meta + body
    }

    private func fragments(at path: [Tag], in dataSet: DataSet) -> [[UInt8]]? {
        var current = dataSet
        for tag in path.dropLast() {
            guard let items = current[tag]?.items, let first = items.first else { return nil }
            current = first.dataSet
        }
        guard case let .fragments(_, fragments)? = current[path.last!]?.value else { return nil }
        return fragments.compactMap { fragment -> [UInt8]? in
            if case let .inline(bytes) = fragment.bytes { return bytes }
            return nil
        }
    }

    func testEncapsulatedIconsParseAtAnyDepthAndRoundTrip() throws {
        let dir = try TestSupport.TemporaryDirectory("nested-pixels")
        for undefined in [false, true] {
            let bytes = file(undefinedItems: undefined)
            let parsed = try DICOMReader.read(InMemoryByteSource(bytes))
            XCTAssertEqual(fragments(at: [Tag(0x0088, 0x0200), Tag.pixelData], in: parsed.dataSet), [jpeg])
            XCTAssertEqual(fragments(at: [Tag(0x0008, 0x1140), Tag(0x0088, 0x0200), Tag.pixelData], in: parsed.dataSet), [jpeg, [0x01, 0x02]])
            XCTAssertEqual(fragments(at: [Tag.pixelData], in: parsed.dataSet), [jpeg])

            let written = try DICOMWriter.data(parsed, source: InMemoryByteSource(bytes),
                                               options: WriteOptions(implementationClassUID: "2.25.1", implementationVersionName: "TEST"))
            let again = try DICOMReader.read(InMemoryByteSource(written))
            XCTAssertEqual(fragments(at: [Tag(0x0008, 0x1140), Tag(0x0088, 0x0200), Tag.pixelData], in: again.dataSet), [jpeg, [0x01, 0x02]])
            let rewritten = try DICOMWriter.data(again, source: InMemoryByteSource(written),
                                                 options: WriteOptions(implementationClassUID: "2.25.1", implementationVersionName: "TEST"))
            XCTAssertEqual(rewritten, written, "what is written reads back to the same bytes")
            // dcmtk reads the rebuilt file and finds both pixel sequences inside the items.
            let path = dir.path("nested-\(undefined).dcm")
            try Data(written).write(to: URL(fileURLWithPath: path))
            let dump = try TestSupport.run("dcmdump", ["-q", path]).stdoutText
            XCTAssertEqual(dump.components(separatedBy: "PixelSequence").count - 1, 3, dump)
        }
    }

    func testEncapsulatedPixelDataIsOnlyAcceptedInAnEncapsulatedTransferSyntax() {
        var bytes = file(undefinedItems: false)
        // Claim explicit VR little endian: an undefined-length OB is then an error, at any depth.
        let ts = Array("1.2.840.10008.1.2.4.50".utf8) + [0]
        let at = bytes.firstIndex(of: ts[0])!
        let native = Array("1.2.840.10008.1.2.1".utf8)
        bytes.replaceSubrange(at..<at + ts.count, with: native + [UInt8](repeating: 0, count: ts.count - native.count))
        XCTAssertThrowsError(try DICOMReader.read(InMemoryByteSource(bytes)))
    }
}
