import Foundation
import TestSupport
import XCTest
@testable import Protector

/// A real clamd (Debian's clamav-daemon) started by the test on a unix socket in a temporary
/// directory, loaded with the project's signature set, and stopped afterwards.
final class ClamdClientTests: XCTestCase {
    func testInstreamVerdictsAndFailClosed() throws {
        let clamd = try ClamdPeer(streamMaxLength: "1M")
        let client = ClamdClient(socketPath: clamd.socket, timeout: 10)
        XCTAssertEqual(try client.scan(ClamAVEngineTests.eicar, label: "part"), ["Kiosk.Test.EICAR.UNOFFICIAL"])
        let ct = [UInt8](try Data(contentsOf: try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm")))
        XCTAssertEqual(try client.scan(ct, label: "CT_small.dcm"), [])
        // Over StreamMaxLength clamd answers an error: never "clean".
        XCTAssertThrowsError(try client.scan([UInt8](repeating: 0x42, count: 3 << 20), label: "big"))
        // A socket nobody listens on is an error, not a verdict.
        XCTAssertThrowsError(try ClamdClient(socketPath: clamd.directory.path("nothing.sock")).scan([1], label: "x"))
    }
}

extension MalwareEngine {
    /// Tests scan byte arrays; the product scans parts (`ScanContent`).
    func scan(_ bytes: [UInt8], label: String) throws -> [String] { try scan(ScanContent(bytes, label: label)) }
}
