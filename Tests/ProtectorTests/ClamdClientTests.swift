import Foundation
import TestSupport
import XCTest
@testable import Protector

/// A real clamd (Debian's clamav-daemon) started by the test on a unix socket in a temporary
/// directory, loaded with the project's signature set, and stopped afterwards.
final class ClamdClientTests: XCTestCase {
    func testInstreamVerdictsAndFailClosed() throws {
        let clamd = try TestSupport.tool("clamd")
        let dir = try TestSupport.TemporaryDirectory("clamd")
        let database = dir.url.appendingPathComponent("db")
        try FileManager.default.createDirectory(at: database, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: TestSupport.packageRoot.appendingPathComponent("signatures/kiosk-agent.ndb"),
                                         to: database.appendingPathComponent("kiosk-agent.ndb"))
        let socket = dir.path("clamd.sock")
        try """
            LocalSocket \(socket)
            DatabaseDirectory \(database.path)
            TemporaryDirectory \(dir.url.path)
            LogFile \(dir.path("clamd.log"))
            Foreground yes
            StreamMaxLength 1M
            """.write(toFile: dir.path("clamd.conf"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: clamd)
        process.arguments = ["-c", dir.path("clamd.conf")]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        let client = ClamdClient(socketPath: socket, timeout: 10)
        let started = Date()
        while (try? client.scan([0x41], name: "probe")) == nil {
            guard process.isRunning, Date().timeIntervalSince(started) < 60 else {
                let log = (try? String(contentsOfFile: dir.path("clamd.log"), encoding: .utf8)) ?? ""
                return XCTFail("clamd did not come up: \(log)")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTAssertEqual(try client.scan(ClamAVEngineTests.eicar, name: "part"), ["Kiosk.Test.EICAR.UNOFFICIAL"])
        let ct = [UInt8](try Data(contentsOf: try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm")))
        XCTAssertEqual(try client.scan(ct, name: "CT_small.dcm"), [])
        // Over StreamMaxLength clamd answers an error: never "clean".
        XCTAssertThrowsError(try client.scan([UInt8](repeating: 0x42, count: 3 << 20), name: "big"))
        // A socket nobody listens on is an error, not a verdict.
        XCTAssertThrowsError(try ClamdClient(socketPath: dir.path("nothing.sock")).scan([1], name: "x"))
    }
}
