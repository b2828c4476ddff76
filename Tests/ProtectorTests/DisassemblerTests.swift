import DICOMCore
import Foundation
import TestSupport
import XCTest
@testable import Protector

final class DisassemblerTests: XCTestCase {
    private func parts(_ name: String) throws -> [Part] {
        let bytes = [UInt8](try Data(contentsOf: try TestSupport.pydicomTestFiles().appendingPathComponent(name)))
        return Disassembler.parts(of: try DICOMReader.read(InMemoryByteSource(bytes)))
    }

    private func count(_ parts: [Part], _ match: (Part.Kind) -> Bool) -> Int { parts.filter { match($0.kind) }.count }

    func testPreambleMetaFramesFragmentsOverlaysWaveforms() throws {
        let ct = try parts("CT_small.dcm")
        XCTAssertEqual(ct.first?.kind, .preamble)
        XCTAssertEqual(count(ct) { if case .pixelFrame = $0 { return true }; return false }, 1)
        XCTAssertEqual(ct.first { if case .pixelFrame = $0.kind { return true }; return false }?.bytes.length, 128 * 128 * 2)

        let dose = try parts("rtdose.dcm")
        let frames = dose.filter { if case .pixelFrame = $0.kind { return true }; return false }
        XCTAssertGreaterThan(frames.count, 1, "multi-frame native pixel data is split per frame")

        let j2k = try parts("JPEG2000.dcm")
        XCTAssertEqual(count(j2k) { $0 == .offsetTable }, 1)
        XCTAssertGreaterThanOrEqual(count(j2k) { if case .fragment = $0 { return true }; return false }, 1)

        XCTAssertGreaterThanOrEqual(count(try parts("examples_overlay.dcm")) { $0 == .overlay }, 1)
        XCTAssertGreaterThanOrEqual(count(try parts("waveform_ecg.dcm")) { $0 == .waveform }, 1)
    }

    func testPrivateBlocksCarryTheirCreatorsAtEveryDepth() throws {
        let ct = try parts("CT_small.dcm")
        let creators = Set(ct.compactMap { if case let .privateBlock(creator) = $0.kind { return creator }; return nil })
        XCTAssertFalse(creators.isEmpty)
        XCTAssertFalse(creators.contains(""), "every private value maps to its block's creator: \(creators)")
        let nested = try parts("nested_priv_SQ.dcm")
        XCTAssertTrue(nested.contains { if case .privateBlock = $0.kind { return $0.location.contains("[0]") }; return false })
    }

    func testExcessNativePixelBytesAreTheirOwnPart() throws {
        let bytes = [UInt8](try Data(contentsOf: try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm")))
        var file = try DICOMReader.read(InMemoryByteSource(bytes))
        let pixels = try XCTUnwrap(file.dataSet[Tag.pixelData]?.inlineBytes)
        let hidden = Array("PK\u{3}\u{4}hidden zip".utf8)
        file.dataSet.set(DataElement(tag: Tag.pixelData, vr: .OW, value: .bytes(.inline(pixels + hidden))))
        let parts = Disassembler.parts(of: file)
        let extra = try XCTUnwrap(parts.first { $0.kind == .trailing && $0.tag == Tag.pixelData })
        XCTAssertEqual(extra.bytes, .inline(hidden))
    }
}
