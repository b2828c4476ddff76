import DICOMCore
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import LibClamAV
@testable import Protector

/// The whole original is scanned once and large ranges of it only by their start, without losing
/// a detection: a signature deep inside a frame or value, one in two parts at once, one anchored
/// at a part's first byte, a program or a type an engine treats by type at a part's start.
final class ScanPlanTests: XCTestCase {
    typealias F = ThreatFixtures

    /// libclamav, recording how many bytes each scan handed it.
    final class Counting: MalwareEngine, @unchecked Sendable {
        let inner: ClamAVEngine
        private let lock = NSLock()
        private(set) var scans: [(label: String, count: Int64)] = []
        init(_ inner: ClamAVEngine) { self.inner = inner }
        var name: String { inner.name }
        func scan(_ content: ScanContent) throws -> [String] {
            lock.withLock { scans.append((content.label, content.count)) }
            return try inner.scan(content)
        }
        var bytes: Int64 { lock.withLock { scans.reduce(0) { $0 + $1.count } } }
    }

    /// CT_small at 512×512 (a 512 KiB frame), values over 1 KiB left in the source as ranges.
    private func largeCT(_ edit: (inout [UInt8]) -> Void = { _ in }, extra: (inout DICOMFile) -> Void = { _ in }) throws -> [UInt8] {
        try F.crafted { file in
            var pixels = [UInt8](repeating: 0, count: 512 * 512 * 2)
            for index in stride(from: 0, to: pixels.count, by: 2) { pixels[index] = UInt8(truncatingIfNeeded: index / 7 &* 31) }
            edit(&pixels)
            file.dataSet.set(F.element(Tag(0x0028, 0x0010), .US, [0, 2]))
            file.dataSet.set(F.element(Tag(0x0028, 0x0011), .US, [0, 2]))
            file.dataSet.set(F.element(Tag.pixelData, .OW, pixels))
            extra(&file)
        }
    }

    private func policy() -> ProtectorPolicy {
        var policy = F.policy()
        policy.parsing.inlineValueLimit = 1024
        return policy
    }

    func testAFrameIsScannedOnceInTheWholeFileAndByItsStart() throws {
        let bytes = try largeCT()
        let counting = Counting(F.engine)
        let outcome = try F.protect(bytes, with: F.protector(policy(), engines: [counting]))
        XCTAssertNotEqual(outcome.verdict, .rejected, "\(outcome.protection.findings)")
        let frame = counting.scans.filter { $0.label.contains("(7FE0,0010)") }.map(\.count)
        XCTAssertEqual(frame, [ScanPlan.headBytes], "the frame alone only by its start")
        XCTAssertEqual(counting.scans.filter { $0.label == "the whole original file" }.map(\.count), [Int64(bytes.count)])
        XCTAssertLessThan(counting.bytes, Int64(bytes.count) + ScanPlan.headBytes + 64 << 10, "\(counting.scans)")
    }

    func testEICARDeepInAFrameIsFoundAndNamesTheFrame() throws {
        let bytes = try largeCT { $0.replaceSubrange(300_000..<300_000 + F.eicar.count, with: F.eicar) }
        let outcome = try F.protect(bytes, with: F.protector(policy()))
        XCTAssertEqual(outcome.verdict, .rejected, "the image is nothing without its frame")
        let malware = try XCTUnwrap(outcome.protection.findings.first { $0.code == .malwareClamAV })
        XCTAssertTrue(malware.detail.contains("(7FE0,0010) frame 1") && malware.detail.contains("EICAR"), malware.detail)
    }

    func testOneSignatureInTwoPartsIsFoundInBoth() throws {
        let bytes = try largeCT { $0.replaceSubrange(400_000..<400_000 + F.eicar.count, with: F.eicar) } extra: { file in
            file.dataSet.set(F.element(Tag(0x0011, 0x0010), .LO, F.text("ACME 1.0")))
            file.dataSet.set(F.element(Tag(0x0011, 0x1001), .OB, F.eicar))
        }
        let outcome = try F.protect(bytes, with: F.protector(policy()))
        XCTAssertEqual(outcome.verdict, .rejected)
        let located = outcome.protection.findings.filter { $0.code == .malwareClamAV }.map(\.detail)
        XCTAssertTrue(located.contains { $0.contains("(0011,1001)") }, "\(located)")
        XCTAssertTrue(located.contains { $0.contains("(7FE0,0010) frame 1") }, "the second copy is not hidden by the first: \(located)")
    }

    func testASignatureAnchoredAtAPartsFirstByteStillMatches() throws {
        let dir = try TestSupport.TemporaryDirectory("anchored")
        let marker: [UInt8] = [0x93, 0x11, 0x5C, 0xE0, 0x42, 0x07, 0xB1, 0x6D, 0x3A, 0x80, 0x19, 0xF4, 0x2E, 0xC7, 0x55, 0x01]
        let database = dir.path("anchored.ndb")
        try Data("Kiosk.Test.Anchored:0:0:\(marker.map { String(format: "%02x", $0) }.joined())\n".utf8).write(to: URL(fileURLWithPath: database))
        let engine = try ClamAVEngine(signatures: [database])
        let value = marker + [UInt8](repeating: 0x00, count: 200_000)
        let bytes = try largeCT { _ in } extra: { file in
            file.dataSet.set(F.element(Tag(0x0018, 0x9004), .OB, value))
        }
        XCTAssertFalse(ScanPlan.startsLikeAFile(Array(value.prefix(1024))), "plain binary: seen alone only by its start")
        let outcome = try F.protect(bytes, with: F.protector(policy(), engines: [engine]))
        let malware = try XCTUnwrap(outcome.protection.findings.first { $0.code == .malwareClamAV }, "\(outcome.codes)")
        XCTAssertTrue(malware.detail.contains("Kiosk.Test.Anchored") && malware.detail.contains("(0018,9004)"), malware.detail)
        XCTAssertFalse(outcome.delivered.contains(marker))
        // The same bytes in the middle of the value are not at a part's start: the anchored rule does not match.
        let inside = try largeCT { _ in } extra: { file in
            file.dataSet.set(F.element(Tag(0x0018, 0x9004), .OB, [UInt8](repeating: 0x00, count: 100) + value))
        }
        XCTAssertFalse(try F.protect(inside, with: F.protector(policy(), engines: [engine])).codes.contains("malware.clamav"))
    }

    func testAProgramOrTypedContentAtAPartsStartIsScannedWhole() throws {
        var pe = [UInt8](repeating: 0x00, count: 200_000)
        pe[0] = 0x4D; pe[1] = 0x5A; pe[0x3C] = 0x80; pe[0x80] = 0x50; pe[0x81] = 0x45
        pe.replaceSubrange(150_000..<150_000 + F.eicar.count, with: F.eicar)
        for start in [pe, Array("%PDF-1.7\n".utf8) + [UInt8](repeating: 0, count: 100_000), [0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 0, count: 100_000),
                      Array("<html><script>".utf8) + [UInt8](repeating: 0x41, count: 100_000)] {
            XCTAssertTrue(ScanPlan.startsLikeAFile(Array(start.prefix(1024))), "\(start.prefix(8))")
        }
        let counting = Counting(F.engine)
        let bytes = try largeCT { _ in } extra: { file in
            file.dataSet.set(F.element(Tag(0x0018, 0x9004), .OB, pe))
        }
        let outcome = try F.protect(bytes, with: F.protector(policy(), engines: [counting]))
        XCTAssertTrue(counting.scans.contains { $0.label == "(0018,9004)" && $0.count == Int64(pe.count) }, "\(counting.scans)")
        let found = outcome.protection.findings.filter { $0.code == .malwareClamAV && $0.element == "(0018,9004)" }.map(\.detail)
        XCTAssertTrue(found.contains { $0.contains("PEHeaderInPart") }, "\(found)")
        XCTAssertTrue(found.contains { $0.contains("EICAR") }, "\(found)")
        XCTAssertFalse(outcome.delivered.contains(F.eicar))
    }
}
