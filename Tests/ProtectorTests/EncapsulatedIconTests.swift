import DICOMCore
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import Protector

private typealias F = ThreatFixtures

/// An Icon Image Sequence whose Pixel Data is encapsulated (PS3.3 F.7), written by pydicom from its
/// own JPEG test file: the file is read, its icon fragments are parts of their own, checked and
/// scanned, and the rebuild keeps them bit-identical (icons = keep) or removes the icon (drop).
final class EncapsulatedIconTests: XCTestCase {
    /// SC_rgb_jpeg_dcmtk.dcm with an icon whose pixels are the image's own JPEG frame, or `fragment`.
    private func iconFile(_ dir: TestSupport.TemporaryDirectory, fragment: [UInt8]? = nil) throws -> [UInt8] {
        let output = dir.path(fragment == nil ? "icon.dcm" : "bad-icon.dcm")
        let source = try TestSupport.pydicomTestFiles().appendingPathComponent("SC_rgb_jpeg_dcmtk.dcm").path
        let replacement = fragment.map { "bytes([" + $0.map(String.init).joined(separator: ",") + "])" } ?? "None"
        try TestSupport.python("""
            import sys, pydicom
            from pydicom.dataset import Dataset
            from pydicom.sequence import Sequence
            from pydicom.encaps import encapsulate, generate_frames
            ds = pydicom.dcmread(sys.argv[1])
            frame = next(generate_frames(ds.PixelData, number_of_frames=1))
            replacement = \(replacement)
            icon = Dataset()
            for k in ["SamplesPerPixel", "PhotometricInterpretation", "PlanarConfiguration", "Rows", "Columns",
                      "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation"]:
                setattr(icon, k, getattr(ds, k))
            icon.PixelData = encapsulate([replacement if replacement is not None else frame])
            icon["PixelData"].VR = "OB"
            icon["PixelData"].is_undefined_length = True
            ds.IconImageSequence = Sequence([icon])
            ds.save_as(sys.argv[2], enforce_file_format=True)
            """, [source, output])
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
    }

    private func dump(_ bytes: [UInt8], _ dir: TestSupport.TemporaryDirectory, _ name: String) throws -> String {
        let path = dir.path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try TestSupport.run("dcmdump", ["-q", path]).stdoutText
    }

    private func iconFragments(_ dataSet: DataSet) -> [[UInt8]]? {
        guard let item = dataSet[Tag(0x0088, 0x0200)]?.items?.first,
              case let .fragments(_, fragments)? = item.dataSet[Tag.pixelData]?.value else { return nil }
        return fragments.map { if case let .inline(bytes) = $0.bytes { bytes } else { [] } }
    }

    func testEncapsulatedIconIsReadInspectedAndRebuiltOrRemoved() throws {
        let dir = try TestSupport.TemporaryDirectory("encapsulated-icon")
        let bytes = try iconFile(dir)
        let original = try DICOMReader.read(InMemoryByteSource(bytes))
        let fragments = try XCTUnwrap(iconFragments(original.dataSet), "the icon's fragments are read")
        let parts = Disassembler.parts(of: original)
        XCTAssertEqual(parts.filter { $0.kind == .icon && $0.location.contains("fragment") }.count, fragments.count)

        var keep = F.policy()
        keep.icons = .keep
        let kept = try F.protect(bytes, with: F.protector(keep))
        XCTAssertEqual(kept.verdict, .clean, "\(kept.protection.findings)")
        let rebuilt = try DICOMReader.read(InMemoryByteSource(kept.delivered))
        XCTAssertEqual(iconFragments(rebuilt.dataSet), fragments, "icon fragments bit-identical")
        func frames(_ ds: DataSet) -> [ValueBytes]? {
            guard case let .fragments(_, fragments)? = ds[Tag.pixelData]?.value else { return nil }
            return fragments.map(\.bytes)
        }
        XCTAssertEqual(frames(rebuilt.dataSet), frames(original.dataSet), "the image's own fragments too")
        let keptDump = try dump(kept.delivered, dir, "kept.dcm")
        XCTAssertEqual(keptDump.components(separatedBy: "PixelSequence").count - 1, 2, keptDump)

        let dropped = try F.protect(bytes)
        XCTAssertEqual(dropped.verdict, .disarmed, "\(dropped.protection.findings)")
        XCTAssertNil(try DICOMReader.read(InMemoryByteSource(dropped.delivered)).dataSet[Tag(0x0088, 0x0200)])
        XCTAssertFalse(try dump(dropped.delivered, dir, "dropped.dcm").contains("IconImageSequence"))
    }

    func testAnIconFragmentThatIsNoCodestreamTakesTheIconWithIt() throws {
        let dir = try TestSupport.TemporaryDirectory("encapsulated-icon-bad")
        let bytes = try iconFile(dir, fragment: Array("not a JPEG codestream at all".utf8))
        var keep = F.policy()
        keep.icons = .keep
        let outcome = try F.protect(bytes, with: F.protector(keep))
        XCTAssertEqual(outcome.verdict, .disarmed, "\(outcome.protection.findings)")
        XCTAssertTrue(outcome.codes.contains("pixel.codestream-invalid"), "\(outcome.codes)")
        let rebuilt = try DICOMReader.read(InMemoryByteSource(outcome.delivered))
        XCTAssertNil(rebuilt.dataSet[Tag(0x0088, 0x0200)], "the icon goes whole; the image stays")
        XCTAssertNotNil(rebuilt.dataSet[Tag.pixelData])
        _ = try dump(outcome.delivered, dir, "bad.dcm")
    }
}
