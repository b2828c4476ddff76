import DICOMCore
import FileSignatures
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import Protector

final class PartInspectorTests: XCTestCase {
    private func inspect(_ file: DICOMFile, source: InMemoryByteSource) -> [Finding] {
        PartInspector().inspect(file, parts: Disassembler.parts(of: file), reader: ValueReader(source)).map(\.finding)
    }

    private func load(_ directory: URL, _ name: String) throws -> (DICOMFile, InMemoryByteSource) {
        let source = InMemoryByteSource([UInt8](try Data(contentsOf: directory.appendingPathComponent(name))))
        return (try DICOMReader.read(source), source)
    }

    /// Valid real-world files give no part findings: no false alarms on pydicom's set.
    func testValidFilesAreQuiet() throws {
        let directory = try TestSupport.pydicomTestFiles()
        var noisy: [String] = []
        for name in ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm", "SC_rgb_rle.dcm", "rtdose.dcm",
                     "JPEG-lossy.dcm", "MR_small_jpeg_ls_lossless.dcm", "examples_overlay.dcm", "waveform_ecg.dcm", "emri_small_RLE.dcm"] {
            guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path) else { continue }
            let (file, source) = try load(directory, name)
            let findings = inspect(file, source: source)
            if !findings.isEmpty { noisy.append("\(name): \(findings.map(\.code))") }
        }
        XCTAssertEqual(noisy, [])
    }

    func testHiddenProgramsExcessPixelsAndBadCodestreams() throws {
        let directory = try TestSupport.pydicomTestFiles()
        let (original, source) = try load(directory, "CT_small.dcm")
        var ct = original
        var pe = [UInt8](repeating: 0, count: 256)
        pe[0] = 0x4D; pe[1] = 0x5A
        ct.dataSet.set(DataElement(tag: Tag(0x0009, 0x0010), vr: .LO, value: .bytes(.inline(Array("EVIL CORP ".utf8)))))
        ct.dataSet.set(DataElement(tag: Tag(0x0009, 0x1010), vr: .OB, value: .bytes(.inline(pe))))
        let pixels = try XCTUnwrap(ct.dataSet[Tag.pixelData]?.inlineBytes)
        ct.dataSet.set(DataElement(tag: Tag.pixelData, vr: .OW, value: .bytes(.inline(pixels + [UInt8](repeating: 7, count: 100)))))
        let codes = inspect(ct, source: source).map(\.code)
        XCTAssertTrue(codes.contains(.executableEmbedded), "\(codes)")
        XCTAssertTrue(codes.contains(.pixelExcessData), "\(codes)")

        let (j2kOriginal, j2kSource) = try load(directory, "JPEG2000.dcm")
        var j2k = j2kOriginal
        guard case let .fragments(table, fragments)? = j2k.dataSet[Tag.pixelData]?.value else { return XCTFail("not encapsulated") }
        let bogus = Fragment(bytes: .inline(Array("#!/bin/sh\n".utf8)), offset: 0)
        j2k.dataSet.set(DataElement(tag: Tag.pixelData, vr: .OB, value: .fragments(offsetTable: table, fragments: [bogus] + fragments.dropFirst())))
        XCTAssertTrue(inspect(j2k, source: j2kSource).map(\.code).contains(.pixelCodestreamInvalid))
    }
}

extension PartInspectorTests {
    /// Strong signatures anywhere in a value; random bytes and bare magic numbers are not programs.
    func testEmbeddedSearchFindsOnlyStrongSignatures() {
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        XCTAssertNil(EmbeddedSearch.find(in: noise), "a megabyte of noise holds no program")
        XCTAssertNil(EmbeddedSearch.find(in: Array("MZ is a plain word; so is \u{7F}ELF and PK".utf8) + [UInt8](repeating: 0, count: 64)))
        let elf: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 56)
        XCTAssertEqual(EmbeddedSearch.find(in: noise.prefix(333) + elf)?.offset, 333)
        XCTAssertEqual(EmbeddedSearch.find(in: [1, 2, 3] + Array("#!/bin/sh\necho\n".utf8))?.signature.kind, .script)
        var zip = Array("PK".utf8) + [3, 4, 20, 0, 0, 0, 8, 0] + [UInt8](repeating: 0, count: 16) + [20, 0, 0, 0] + Array("META-INF/MANIFEST.MF".utf8)
        zip += [UInt8](repeating: 0, count: 8)
        XCTAssertEqual(EmbeddedSearch.find(in: [9, 9] + zip)?.signature.kind, .javaArchive)
        XCTAssertEqual(EmbeddedSearch.find(in: [0, 0] + [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])?.signature.kind, .oleContainer)
    }
}
