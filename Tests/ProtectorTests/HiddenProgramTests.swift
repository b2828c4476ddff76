import DICOMCore
import FileSignatures
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import Protector

/// One program detector over every binary part, at every offset (THREATS.md 1, 3, 5, 9): inert
/// stand-ins of each program family placed at offsets 0, 1, 37, 4096 and at the very end of each
/// kind of part, in real pydicom files. Where the image stays valid without the part it is removed;
/// where it does not (a native frame, a fragment, the samples of a waveform object) the file is
/// rejected. Never delivered.
final class HiddenProgramTests: XCTestCase {
    typealias F = ThreatFixtures

    /// Inert stand-ins: the headers the detector knows, nothing that runs.
    static let payloads: [(String, [UInt8])] = {
        var pe = [UInt8](repeating: 0, count: 0x48)
        pe[0] = 0x4D; pe[1] = 0x5A; pe[0x3C] = 0x40; pe[0x40] = 0x50; pe[0x41] = 0x45
        var lnk = [UInt8](repeating: 0, count: 0x4C)
        lnk.replaceSubrange(0..<20, with: [0x4C, 0, 0, 0, 0x01, 0x14, 0x02, 0x00, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46])
        let zip: [UInt8] = [0x50, 0x4B, 3, 4, 20, 0, 0, 0, 8, 0] + [UInt8](repeating: 0, count: 16) + [7, 0, 0, 0] + Array("inert.x".utf8)
        return [
            ("PE", pe),
            ("ELF", [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)),
            ("Mach-O", [0xCF, 0xFA, 0xED, 0xFE, 7, 0, 0, 1] + [UInt8](repeating: 0, count: 8)),
            ("script", Array("#!/bin/sh\necho inert\n".utf8)),
            ("OLE", [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1] + [UInt8](repeating: 0, count: 8)),
            ("ZIP", zip),
            ("LNK", lnk),
        ]
    }()

    /// `payload` written into `base` at `offset`; a negative offset puts it at the very end.
    static func place(_ payload: [UInt8], in base: [UInt8], at offset: Int) -> [UInt8] {
        var bytes = base
        let at = offset < 0 ? base.count - payload.count : offset
        bytes.replaceSubrange(at..<at + payload.count, with: payload)
        return bytes
    }

    static let offsets = [0, 1, 37, 4096, -1]

    struct Carrier {
        let name: String
        /// The real bytes of the part (from the file, or a plausible fill), at least 4096 + 128 long.
        let base: [UInt8]
        let policy: ProtectorPolicy
        let build: ([UInt8]) throws -> [UInt8]
        /// Whether the image stays valid without the part (then disarmed, else rejected).
        let removable: Bool
        /// What must be gone from the delivered file when the part is removed.
        let gone: Tag?
    }

    private func carriers() throws -> [Carrier] {
        let ct = try DICOMReader.read(InMemoryByteSource(try F.original("CT_small.dcm")))
        let frame = try XCTUnwrap(ct.dataSet[Tag.pixelData]?.inlineBytes)
        let noise = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }
        var keepIcons = F.policy()
        keepIcons.icons = .keep
        var keepACME = F.policy()
        keepACME.keptPrivateCreators = ["ACME 1.0"]
        let ecg = try DICOMReader.read(InMemoryByteSource(try F.original("waveform_ecg.dcm")))
        let samples = try XCTUnwrap(ecg.dataSet[Tag(0x5400, 0x0100)]?.items?.first?.dataSet[Tag(0x5400, 0x1010)]?.inlineBytes)
        let jpeg = try DICOMReader.read(InMemoryByteSource(try F.original("JPEG-lossy.dcm")))
        guard case let .fragments(_, fragments)? = jpeg.dataSet[Tag.pixelData]?.value, case let .inline(fragment)? = fragments.first?.bytes else {
            throw XCTSkip("JPEG-lossy.dcm is not encapsulated as expected")
        }
        return [
            Carrier(name: "overlay", base: Array(noise), policy: F.policy(), build: { bytes in
                try F.crafted { file in
                    file.dataSet.set(F.element(Tag(0x6000, 0x0010), .US, [0, 1]))
                    file.dataSet.set(F.element(Tag(0x6000, 0x0011), .US, [0, 1]))
                    file.dataSet.set(F.element(Tag(0x6000, 0x0040), .CS, F.text("G")))
                    file.dataSet.set(F.element(Tag(0x6000, 0x0050), .SS, [1, 0, 1, 0]))
                    file.dataSet.set(F.element(Tag(0x6000, 0x0100), .US, [1, 0]))
                    file.dataSet.set(F.element(Tag(0x6000, 0x0102), .US, [0, 0]))
                    file.dataSet.set(F.element(Tag(0x6000, 0x3000), .OW, bytes))
                }
            }, removable: true, gone: Tag(0x6000, 0x0010)),
            Carrier(name: "curve", base: Array(noise), policy: F.policy(), build: { bytes in
                try F.crafted { $0.dataSet.set(F.element(Tag(0x5000, 0x3000), .OW, bytes)) }
            }, removable: true, gone: Tag(0x5000, 0x3000)),
            Carrier(name: "waveform in an image", base: Array(samples.prefix(8192)), policy: F.policy(), build: { bytes in
                try F.crafted { file in
                    var item = DataSet()
                    item.set(F.element(Tag(0x003A, 0x0005), .US, [1, 0]))
                    item.set(F.element(Tag(0x003A, 0x0010), .UL, [0, 16, 0, 0]))
                    item.set(F.element(Tag(0x5400, 0x1004), .US, [16, 0]))
                    item.set(F.element(Tag(0x5400, 0x1006), .CS, F.text("SS")))
                    item.set(F.element(Tag(0x5400, 0x1010), .OW, bytes))
                    file.dataSet.set(DataElement(tag: Tag(0x5400, 0x0100), vr: .SQ, value: .sequence([Item(dataSet: item, offset: 0)])))
                }
            }, removable: true, gone: Tag(0x5400, 0x0100)),
            Carrier(name: "waveform object", base: samples, policy: F.policy(), build: { bytes in
                try F.crafted("waveform_ecg.dcm") { file in
                    XCTAssertTrue(file.dataSet.modify(at: ElementPath(steps: [.init(sequence: Tag(0x5400, 0x0100), item: 0)], tag: Tag(0x5400, 0x1010))) {
                        $0.set(F.element(Tag(0x5400, 0x1010), .OB, bytes))
                    })
                }
            }, removable: false, gone: nil),
            Carrier(name: "icon", base: Array(noise) + Array(noise), policy: keepIcons, build: { bytes in
                try F.crafted { file in
                    var item = DataSet()
                    item.set(F.element(Tag(0x0028, 0x0002), .US, [1, 0]))
                    item.set(F.element(Tag(0x0028, 0x0004), .CS, F.text("MONOCHROME2")))
                    item.set(F.element(Tag(0x0028, 0x0010), .US, [128, 0]))
                    item.set(F.element(Tag(0x0028, 0x0011), .US, [128, 0]))
                    item.set(F.element(Tag(0x0028, 0x0100), .US, [8, 0]))
                    item.set(F.element(Tag(0x0028, 0x0101), .US, [8, 0]))
                    item.set(F.element(Tag(0x0028, 0x0102), .US, [7, 0]))
                    item.set(F.element(Tag(0x0028, 0x0103), .US, [0, 0]))
                    item.set(F.element(Tag.pixelData, .OB, bytes))
                    file.dataSet.set(DataElement(tag: Tag(0x0088, 0x0200), vr: .SQ, value: .sequence([Item(dataSet: item, offset: 0)])))
                }
            }, removable: true, gone: Tag(0x0088, 0x0200)),
            Carrier(name: "allow-listed private OB", base: Array(noise), policy: keepACME, build: { bytes in
                try F.crafted { file in
                    file.dataSet.set(F.element(Tag(0x0029, 0x0010), .LO, F.text("ACME 1.0")))
                    file.dataSet.set(F.element(Tag(0x0029, 0x1001), .OB, bytes))
                }
            }, removable: true, gone: Tag(0x0029, 0x1001)),
            Carrier(name: "nested UN", base: Array(noise), policy: F.policy(), build: { bytes in
                try F.crafted { file in
                    var item = DataSet()
                    item.set(F.element(Tag(0x0040, 0x0009), .SH, F.text("SPS1")))
                    item.set(F.element(Tag(0x0018, 0x9004), .UN, bytes))
                    file.dataSet.set(DataElement(tag: Tag(0x0040, 0x0275), vr: .SQ, value: .sequence([Item(dataSet: item, offset: 0)])))
                }
            }, removable: true, gone: nil),
            Carrier(name: "native frame", base: frame, policy: F.policy(), build: { bytes in
                try F.crafted { $0.dataSet.set(F.element(Tag.pixelData, .OW, bytes)) }
            }, removable: false, gone: nil),
            Carrier(name: "JPEG fragment", base: fragment, policy: F.policy(), build: { bytes in
                try F.crafted("JPEG-lossy.dcm") { file in
                    guard case let .fragments(table, _)? = file.dataSet[Tag.pixelData]?.value else { return XCTFail("not encapsulated") }
                    file.dataSet.set(DataElement(tag: Tag.pixelData, vr: .OB,
                                                 value: .fragments(offsetTable: table, fragments: [Fragment(bytes: .inline(bytes), offset: 0)])))
                }
            }, removable: false, gone: nil),
        ]
    }

    func testEveryProgramFamilyAtEveryOffsetOfEveryBinaryPart() throws {
        var failures: [String] = []
        var cases = 0
        for carrier in try carriers() {
            // The detector alone: no engine, so nothing else can find the payloads.
            let protector = Protector(policy: carrier.policy, engines: [])
            for (family, payload) in Self.payloads {
                for offset in Self.offsets {
                    cases += 1
                    let label = "\(family) at \(offset < 0 ? "the end" : "byte \(offset)") of the \(carrier.name)"
                    let outcome = try F.protect(try carrier.build(Self.place(payload, in: carrier.base, at: offset)), with: protector)
                    guard outcome.codes.contains("executable.embedded") else { failures.append("\(label): not found, \(outcome.codes)"); continue }
                    if outcome.delivered.contains(payload) { failures.append("\(label): delivered") }
                    if carrier.removable {
                        guard outcome.verdict == .disarmed else { failures.append("\(label): \(outcome.verdict), \(outcome.codes)"); continue }
                        let rebuilt = try DICOMReader.read(InMemoryByteSource(outcome.delivered))
                        if let gone = carrier.gone, rebuilt.dataSet[gone] != nil { failures.append("\(label): \(gone) still there") }
                    } else if outcome.verdict != .rejected {
                        failures.append("\(label): \(outcome.verdict) where the image needs the part")
                    }
                }
            }
        }
        XCTAssertEqual(cases, 9 * 7 * 5)
        XCTAssertEqual(failures, [])
    }

    /// The same carriers without a payload are delivered untouched by the detector.
    func testCarriersWithoutAProgramAreNotFlagged() throws {
        for carrier in try carriers() {
            let outcome = try F.protect(try carrier.build(carrier.base), with: Protector(policy: carrier.policy, engines: []))
            XCTAssertFalse(outcome.codes.contains("executable.embedded"), "\(carrier.name): \(outcome.protection.findings)")
            XCTAssertNotEqual(outcome.verdict, .rejected, "\(carrier.name): \(outcome.protection.findings)")
        }
    }

    /// A Mach-O magic number in the last bytes of a value: the search reads only inside the buffer
    /// (the `where` of a multi-pattern `case` once guarded only the last pattern).
    func testMagicNumbersAtTheVeryEndAreReadInsideTheBuffer() throws {
        for tail in [[0xFE, 0xED, 0xFA, 0xCE], [0xFE, 0xED, 0xFA, 0xCF], [0xCE, 0xFA, 0xED, 0xFE], [0xCF, 0xFA, 0xED, 0xFE],
                     [0x7F, 0x45, 0x4C, 0x46], [0xD0, 0xCF, 0x11, 0xE0], [0x4C, 0, 0, 0], [0x50, 0x4B, 3, 4], [0x4D, 0x5A, 0, 0],
                     Array("#!/bin/".utf8)] as [[UInt8]] {
            for lead in 0..<8 {
                // An exact-size array: a read past its end traps in a debug build.
                let bytes = [UInt8](repeating: 0x11, count: lead) + tail
                XCTAssertNil(EmbeddedSearch.find(in: bytes), "\(bytes)")
            }
        }
        let endsInMachO = try F.crafted { file in
            file.dataSet.set(F.element(Tag(0x0029, 0x0010), .LO, F.text("ACME 1.0")))
            file.dataSet.set(F.element(Tag(0x0029, 0x1001), .OB, [1, 2, 3, 4, 0xFE, 0xED, 0xFA, 0xCE]))
        }
        var keepACME = F.policy()
        keepACME.keptPrivateCreators = ["ACME 1.0"]
        let outcome = try F.protect(endsInMachO, with: F.protector(keepACME))
        XCTAssertNotEqual(outcome.verdict, .rejected, "\(outcome.protection.findings)")
        XCTAssertFalse(outcome.codes.contains("executable.embedded"), "\(outcome.protection.findings)")
        XCTAssertTrue(outcome.delivered.contains([1, 2, 3, 4, 0xFE, 0xED, 0xFA, 0xCE]))
    }

    /// The search's cost over real CT frames (it runs over every byte of every frame): printed for
    /// the record, with a generous bound that only an accidental quadratic search would break.
    func testSearchCostOverRealFrames() throws {
        let ct = try DICOMReader.read(InMemoryByteSource(try F.original("CT_small.dcm")))
        let frame = try XCTUnwrap(ct.dataSet[Tag.pixelData]?.inlineBytes)
        var frames = [UInt8]()
        frames.reserveCapacity(64 << 20)
        while frames.count < 64 << 20 { frames += frame }
        let start = DispatchTime.now().uptimeNanoseconds
        XCTAssertNil(EmbeddedSearch.find(in: frames))
        let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        let perMB = milliseconds / Double(frames.count >> 20)
        print("embedded program search: \(String(format: "%.2f", perMB)) ms/MB over \(frames.count >> 20) MB of CT frames")
        XCTAssertLessThan(perMB, 200)
    }
}
