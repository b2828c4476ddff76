import DICOMCore
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import Protector

/// Bytes after the end of a codestream (THREATS.md 9): after the JPEG, JPEG-LS or JPEG 2000 end
/// marker or the last RLE segment, in the same fragment or in fragments of their own. Cut (and
/// scanned first, so a program there is named), never delivered; the image itself bit-identical.
final class CodestreamTrailingTests: XCTestCase {
    typealias F = ThreatFixtures
    static let program = HiddenProgramTests.payloads[0].1

    private func fragments(_ bytes: [UInt8]) throws -> (table: [UInt8], fragments: [[UInt8]]) {
        let source = InMemoryByteSource(bytes)
        let file = try DICOMReader.read(source)
        guard case let .fragments(table, fragments)? = file.dataSet[Tag.pixelData]?.value else { throw XCTSkip("not encapsulated") }
        func read(_ value: ValueBytes) throws -> [UInt8] {
            switch value {
            case let .inline(bytes): bytes
            case let .deferred(offset, length): try source.read(at: offset, count: Int(length))
            }
        }
        return (try read(table.bytes), try fragments.map { try read($0.bytes) })
    }

    /// The file with its fragments (and offset table) replaced.
    private func refragmented(_ name: String, _ change: (inout [UInt8], inout [[UInt8]]) -> Void) throws -> [UInt8] {
        var (table, parts) = try fragments(try F.original(name))
        change(&table, &parts)
        return try F.crafted(name) { file in
            file.dataSet.set(DataElement(tag: Tag.pixelData, vr: .OB, value: .fragments(
                offsetTable: Fragment(bytes: .inline(table), offset: 0), fragments: parts.map { Fragment(bytes: .inline($0), offset: 0) })))
        }
    }

    private func decodes(_ bytes: [UInt8], with tool: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try TestSupport.TemporaryDirectory("codestream-\(tool)")
        let path = dir.path("in.dcm")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let result = try TestSupport.run(try TestSupport.tool(tool), [path, dir.path("out.dcm")])
        XCTAssertEqual(result.status, 0, "\(tool): \(result.stderrText)", file: file, line: line)
    }

    func testAProgramAfterTheEndOfEachKindOfCodestreamIsNamedAndCut() throws {
        let cases: [(String, String?)] = [
            ("SC_rgb_jpeg_dcmtk.dcm", "dcmdjpeg"),        // baseline
            ("JPEG-lossy.dcm", "dcmdjpeg"),               // extended, padded with FF
            ("SC_rgb_jpeg_gdcm.dcm", "dcmdjpeg"),          // lossless
            ("MR_small_jpeg_ls_lossless.dcm", nil),        // JPEG-LS
            ("JPEG2000.dcm", nil),                         // JPEG 2000
            ("MR_small_RLE.dcm", "dcmdrle"),               // RLE
        ]
        for (name, decoder) in cases {
            let original = try fragments(try F.original(name)).fragments
            let crafted = try refragmented(name) { _, parts in parts[parts.count - 1] += Self.program + Array("tail".utf8) }
            let outcome = try F.protect(crafted, with: Protector(policy: F.policy(), engines: []))
            XCTAssertEqual(outcome.verdict, .disarmed, "\(name): \(outcome.protection.findings)")
            XCTAssertTrue(outcome.protection.findings.contains { $0.code == .pixelCodestreamTrailing && $0.severity == .high },
                          "\(name): \(outcome.codes)")
            let named = outcome.protection.findings.first { $0.code == .executableEmbedded }
            XCTAssertTrue(named?.detail.contains("PE executable") == true && named?.detail.contains("after the codestream end") == true,
                          "\(name): \(outcome.protection.findings)")
            XCTAssertFalse(outcome.delivered.contains(Self.program), name)
            // The codestream is what it was: same length, differing at most in the one pad byte.
            let delivered = try fragments(outcome.delivered).fragments
            XCTAssertEqual(delivered.count, original.count, name)
            XCTAssertEqual(delivered.last?.count, original.last?.count, name)
            XCTAssertEqual(delivered.last?.dropLast(), original.last?.dropLast(), name)
            if let decoder { try decodes(outcome.delivered, with: decoder) }
        }
    }

    /// The malware engine scans the cut bytes as a part of their own and names what it found.
    func testMalwareAfterTheEndIsScannedBeforeItGoes() throws {
        let crafted = try refragmented("JPEG-lossy.dcm") { _, parts in parts[0] += F.eicar + [0] }
        let outcome = try F.protect(crafted)
        XCTAssertEqual(outcome.verdict, .disarmed, "\(outcome.protection.findings)")
        let malware = try XCTUnwrap(outcome.protection.findings.first { $0.code == .malwareClamAV })
        XCTAssertTrue(malware.detail.contains("Kiosk.Test.EICAR") && malware.detail.contains("after the codestream end"), malware.detail)
        XCTAssertFalse(outcome.delivered.contains(F.eicar))
        XCTAssertTrue(outcome.protection.parts.contains { $0.location.hasSuffix("after the codestream end") && $0.action == .removed })
    }

    /// A fragment after a frame's end (a frame's own or between two frames) is left out, and the
    /// Basic Offset Table rewritten so each frame is found where it is.
    func testFragmentsAfterAFrameEndAreLeftOutAndTheOffsetTableRewritten() throws {
        let name = "SC_rgb_rle_2frame.dcm"
        let (table, original) = try fragments(try F.original(name))
        XCTAssertEqual(table.count, 8, "a two-entry table")
        let extra = Self.program + [UInt8](repeating: 0x42, count: 56)
        let crafted = try refragmented(name) { table, parts in
            parts.insert(extra, at: 1)
            let second = 8 + parts[0].count + 8 + extra.count
            table.replaceSubrange(4..<8, with: [UInt8(second & 0xFF), UInt8(second >> 8 & 0xFF), UInt8(second >> 16 & 0xFF), UInt8(second >> 24)])
        }
        let outcome = try F.protect(crafted, with: Protector(policy: F.policy(), engines: []))
        XCTAssertEqual(outcome.verdict, .disarmed, "\(outcome.protection.findings)")
        XCTAssertTrue(outcome.codes.contains("pixel.codestream-trailing") && outcome.codes.contains("executable.embedded"), "\(outcome.codes)")
        let delivered = try fragments(outcome.delivered)
        XCTAssertEqual(delivered.fragments, original)
        XCTAssertEqual(delivered.table, table)
        try decodes(outcome.delivered, with: "dcmdrle")

        // One JPEG 2000 frame over several fragments, and a fragment after its end.
        let split = try refragmented("JPEG2000.dcm") { _, parts in
            let whole = parts[0]
            let half = whole.count / 4 * 2
            parts = [Array(whole.prefix(half)), Array(whole.dropFirst(half)), Self.program + [0, 0]]
        }
        let cut = try F.protect(split, with: Protector(policy: F.policy(), engines: []))
        XCTAssertEqual(cut.verdict, .disarmed, "\(cut.protection.findings)")
        XCTAssertTrue(cut.protection.findings.contains { $0.code == .pixelCodestreamTrailing && $0.detail.contains("1 further fragment") },
                      "\(cut.protection.findings)")
        XCTAssertEqual(try fragments(cut.delivered).fragments.count, 2)
    }

    /// Zero padding after the end (as some encoders write it) is cut too, reported as routine.
    func testFillerAfterTheEndIsCutAndReportedAsRoutine() throws {
        let crafted = try refragmented("SC_rgb_jpeg_dcmtk.dcm") { _, parts in parts[parts.count - 1] += [UInt8](repeating: 0, count: 64) }
        let outcome = try F.protect(crafted, with: Protector(policy: F.policy(), engines: []))
        XCTAssertEqual(outcome.verdict, .disarmed, "\(outcome.protection.findings)")
        let finding = try XCTUnwrap(outcome.protection.findings.first { $0.code == .pixelCodestreamTrailing })
        XCTAssertEqual(finding.severity, .low, finding.detail)
        XCTAssertTrue(finding.detail.contains("filler"), finding.detail)
        try decodes(outcome.delivered, with: "dcmdjpeg")
    }

    /// An encapsulated icon with bytes after its codestream: the icon goes (checked on the model,
    /// as the reader builds it for an Icon Image Sequence with encapsulated Pixel Data).
    func testBytesAfterAnEncapsulatedIconCodestreamRemoveTheIcon() throws {
        let bytes = try F.original("JPEG-lossy.dcm")
        let source = InMemoryByteSource(bytes)
        var file = try DICOMReader.read(source)
        let codestream = try XCTUnwrap(try fragments(bytes).fragments.last)
        var item = DataSet()
        for (tag, value) in [(Tag(0x0028, 0x0002), [1, 0]), (Tag(0x0028, 0x0010), [64, 0]), (Tag(0x0028, 0x0011), [64, 0]),
                             (Tag(0x0028, 0x0100), [8, 0])] as [(Tag, [UInt8])] {
            item.set(F.element(tag, .US, value))
        }
        item.set(DataElement(tag: Tag.pixelData, vr: .OB, value: .fragments(offsetTable: Fragment(bytes: .inline([]), offset: 0),
                                                                             fragments: [Fragment(bytes: .inline(codestream + Self.program), offset: 0)])))
        file.dataSet.set(DataElement(tag: Tag(0x0088, 0x0200), vr: .SQ, value: .sequence([Item(dataSet: item, offset: 0)])))
        let parts = Disassembler.parts(of: file)
        let separated = CodestreamEnd.separate(file, parts, reader: ValueReader(source))
        let icon = try XCTUnwrap(separated.observations.first { $0.finding.code == .pixelCodestreamTrailing })
        XCTAssertEqual(icon.remedy, .removeElement(ElementPath(tag: Tag(0x0088, 0x0200))))
        let found = PartInspector().inspect(file, parts: separated.parts, reader: ValueReader(source))
        XCTAssertTrue(found.contains { $0.finding.code == .executableEmbedded && $0.finding.detail.contains("(0088,0200)[0](7FE0,0010)") },
                      "\(found.map(\.finding))")
    }

    /// Bytes between RLE segments cannot be cut without re-encoding: rejected.
    func testAGapBetweenRLESegmentsRejects() throws {
        let crafted = try refragmented("MR_small_RLE.dcm") { _, parts in
            var frame = parts[0]
            let second = Int(frame[8]) | Int(frame[9]) << 8 | Int(frame[10]) << 16 | Int(frame[11]) << 24
            frame.insert(contentsOf: Self.program, at: second)
            let moved = second + Self.program.count
            frame.replaceSubrange(8..<12, with: [UInt8(moved & 0xFF), UInt8(moved >> 8 & 0xFF), UInt8(moved >> 16 & 0xFF), UInt8(moved >> 24)])
            parts[0] = frame
        }
        let outcome = try F.protect(crafted, with: Protector(policy: F.policy(), engines: []))
        XCTAssertEqual(outcome.verdict, .rejected, "\(outcome.protection.findings)")
        XCTAssertTrue(outcome.protection.findings.contains { $0.code == .pixelCodestreamTrailing && $0.detail.contains("between RLE segments") },
                      "\(outcome.protection.findings)")
        XCTAssertTrue(outcome.delivered.isEmpty)
    }

    /// The codestream and document readers on damaged input: bytes flipped, segment lengths and
    /// Psot made to lie, fragments cut short. Every outcome is a verdict, never a crash or a hang.
    func testDamagedCodestreamsAndDocumentsGetAVerdict() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
        let protector = Protector(policy: F.policy(), engines: [])
        for name in ["JPEG-lossy.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm", "SC_rgb_rle_2frame.dcm"] {
            for round in 0..<40 {
                let crafted = try refragmented(name) { _, parts in
                    let index = random(parts.count)
                    var fragment = parts[index] + Self.program
                    switch round % 4 {
                    case 0: for _ in 0..<8 { fragment[random(fragment.count)] = UInt8(random(256)) }
                    case 1: fragment[random(min(fragment.count, 256))] = 0xFF
                    case 2: fragment = Array(fragment.prefix(random(fragment.count)))
                    default: for _ in 0..<4 { fragment[random(min(fragment.count, 128))] = [0xFF, 0xD9, 0x90, 0x00][random(4)] }
                    }
                    parts[index] = fragment
                }
                let outcome = try F.protect(crafted, with: protector)
                XCTAssertFalse(outcome.delivered.contains(Self.program), "\(name) round \(round): \(outcome.codes)")
            }
        }
        let pdf = ActiveDocumentTests.javaScript
        for round in 0..<200 {
            var bytes = pdf
            for _ in 0..<1 + random(6) { bytes[random(bytes.count)] = Array("<>()/[]%#\\ \nstreamendobj0123456789".utf8)[random(32)] }
            if round % 5 == 0 { bytes = Array(bytes.prefix(random(bytes.count))) }
            _ = ActiveContent.pdf(bytes)
            _ = ActiveContent.xml(bytes)
        }
    }

    /// Real files end their codestreams where the standard says (or with one pad byte): no finding.
    func testValidCodestreamsAreNotCut() throws {
        let directory = try TestSupport.pydicomTestFiles()
        var noisy: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() {
            guard let bytes = try? [UInt8](Data(contentsOf: directory.appendingPathComponent(name))),
                  let file = try? DICOMReader.read(InMemoryByteSource(bytes)), CodestreamEnd.Family(file.transferSyntax) != nil else { continue }
            let source = InMemoryByteSource(bytes)
            let separated = CodestreamEnd.separate(file, Disassembler.parts(of: file), reader: ValueReader(source))
            if !separated.observations.isEmpty { noisy.append("\(name): \(separated.observations.map(\.finding.detail))") }
        }
        XCTAssertEqual(noisy, [])
    }
}
