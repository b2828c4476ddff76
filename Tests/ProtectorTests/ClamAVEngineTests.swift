import DICOMCore
import Foundation
import TestSupport
import XCTest
@testable import LibClamAV
@testable import Protector

/// libclamav in-process with the project's own signature set (signatures/kiosk-agent.ndb).
final class ClamAVEngineTests: XCTestCase {
    static let signatures = TestSupport.packageRoot.appendingPathComponent("signatures").path

    /// The EICAR test string, assembled at run time so no source file carries it whole.
    static let eicar = Array(("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").utf8)

    func testDetectsEICARAndPolyglotPatternsFromMemory() throws {
        let engine = try ClamAVEngine(signatures: [Self.signatures])
        XCTAssertGreaterThanOrEqual(engine.signatureCount, 5)
        XCTAssertEqual(try engine.scan(Self.eicar, label: "part"), ["Kiosk.Test.EICAR.UNOFFICIAL"])

        var pe = [UInt8](repeating: 0, count: 256)
        pe[0] = 0x4D; pe[1] = 0x5A; pe[0x80] = 0x50; pe[0x81] = 0x45
        XCTAssertEqual(try engine.scan(pe, label: "preamble"), ["Kiosk.Polyglot.PEHeaderInPart.UNOFFICIAL"])
        XCTAssertEqual(try engine.scan(Array("#!/bin/sh\nrm -rf /\n".utf8), label: "value"), ["Kiosk.Polyglot.ShellScript.UNOFFICIAL"])
    }

    func testCleanDICOMIsCleanAndEmbeddedPayloadIsFound() throws {
        let engine = try ClamAVEngine(signatures: [Self.signatures])
        let ct = [UInt8](try Data(contentsOf: try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm")))
        XCTAssertEqual(try engine.scan(ct, label: "CT_small.dcm"), [])
        // The same file with EICAR hidden in its middle (as a private value would carry it).
        let infected = Array(ct[0..<2000]) + Self.eicar + Array(ct[2000...])
        XCTAssertEqual(try engine.scan(infected, label: "CT_small.dcm"), ["Kiosk.Test.EICAR.UNOFFICIAL"])
    }

    func testMissingDatabaseIsATypedError() {
        XCTAssertThrowsError(try ClamAVEngine(signatures: ["/nonexistent/kiosk.ndb"])) { error in
            XCTAssertNotNil(error as? ClamAVError)
        }
    }
}

/// A source that is not in memory, so the engine maps it through its read callback.
private final class CountingSource: ByteSource {
    let bytes: [UInt8]
    private(set) var reads = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var count: Int64 { Int64(bytes.count) }
    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        reads += 1
        return Array(bytes[Int(offset)..<Int(offset) + count])
    }
}

extension ClamAVEngineTests {
    func testRangesOfASourceAreScannedThroughTheReadCallback() throws {
        let engine = try ClamAVEngine(signatures: [Self.signatures])
        let padding = [UInt8](repeating: 0x20, count: 3 << 20)
        let source = CountingSource(padding + Self.eicar + padding)
        XCTAssertEqual(try engine.scan(ScanContent(source, offset: Int64(padding.count) - 1000, length: 5000, label: "range")),
                       ["Kiosk.Test.EICAR.UNOFFICIAL"])
        XCTAssertGreaterThan(source.reads, 0, "read through the callback")
        XCTAssertEqual(try engine.scan(ScanContent(source, offset: 0, length: Int64(padding.count), label: "clean range")), [])
    }
}

extension ClamAVEngineTests {
    /// A part over the scan limits is never "clean": libclamav reports it, and the engine throws.
    func testPartsOverTheLimitsAreNotPassedUnscanned() throws {
        var limits = ClamAVEngine.Limits()
        limits.maxFileSize = 4096
        limits.maxScanSize = 4096
        let engine = try ClamAVEngine(signatures: [Self.signatures], limits: limits)
        XCTAssertEqual(try engine.scan([UInt8](repeating: 0x41, count: 1000), label: "small"), [])
        XCTAssertThrowsError(try engine.scan([UInt8](repeating: 0x41, count: 100_000), label: "big")) { error in
            guard case ClamAVError.limitExceeded = error else { return XCTFail("\(error)") }
        }
    }
}
