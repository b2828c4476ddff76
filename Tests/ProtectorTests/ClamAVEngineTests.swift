import Foundation
import TestSupport
import XCTest
@testable import Protector

/// libclamav in-process with the project's own signature set (signatures/kiosk-agent.ndb).
final class ClamAVEngineTests: XCTestCase {
    static let signatures = TestSupport.packageRoot.appendingPathComponent("signatures").path

    /// The EICAR test string, assembled at run time so no source file carries it whole.
    static let eicar = Array(("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").utf8)

    func testDetectsEICARAndPolyglotPatternsFromMemory() throws {
        let engine = try ClamAVEngine(signatures: [Self.signatures])
        XCTAssertGreaterThanOrEqual(engine.signatureCount, 5)
        XCTAssertEqual(try engine.scan(Self.eicar, name: "part"), ["Kiosk.Test.EICAR.UNOFFICIAL"])

        var pe = [UInt8](repeating: 0, count: 256)
        pe[0] = 0x4D; pe[1] = 0x5A; pe[0x80] = 0x50; pe[0x81] = 0x45
        XCTAssertEqual(try engine.scan(pe, name: "preamble"), ["Kiosk.Polyglot.PEHeaderInPart.UNOFFICIAL"])
        XCTAssertEqual(try engine.scan(Array("#!/bin/sh\nrm -rf /\n".utf8), name: "value"), ["Kiosk.Polyglot.ShellScript.UNOFFICIAL"])
    }

    func testCleanDICOMIsCleanAndEmbeddedPayloadIsFound() throws {
        let engine = try ClamAVEngine(signatures: [Self.signatures])
        let ct = [UInt8](try Data(contentsOf: try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm")))
        XCTAssertEqual(try engine.scan(ct, name: "CT_small.dcm"), [])
        // The same file with EICAR hidden in its middle (as a private value would carry it).
        let infected = Array(ct[0..<2000]) + Self.eicar + Array(ct[2000...])
        XCTAssertEqual(try engine.scan(infected, name: "CT_small.dcm"), ["Kiosk.Test.EICAR.UNOFFICIAL"])
    }

    func testMissingDatabaseIsATypedError() {
        XCTAssertThrowsError(try ClamAVEngine(signatures: ["/nonexistent/kiosk.ndb"])) { error in
            XCTAssertNotNil(error as? ClamAVError)
        }
    }
}
