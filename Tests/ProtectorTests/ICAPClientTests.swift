import Foundation
import TestSupport
import XCTest
@testable import Protector

/// A real ICAP gateway: c-icap with its virus_scan service (Debian's c-icap and
/// libc-icap-mod-virus-scan) on 127.0.0.1, scanning through a clamd that the test also starts,
/// both loaded with the project's signature set.
final class ICAPClientTests: XCTestCase {
    func testRespmodVerdicts() throws {
        let gateway = try ICAPPeer()
        let client = ICAPClient(host: "127.0.0.1", port: gateway.port, service: gateway.service, timeout: 20)
        XCTAssertEqual(try client.scan(Array("an ordinary text value".utf8), label: "clean"), [])
        let verdict = try client.scan(ClamAVEngineTests.eicar + Array(" trailing".utf8), label: "infected")
        XCTAssertEqual(verdict.count, 1)
        XCTAssertTrue(verdict.first?.contains("Kiosk.Test.EICAR") == true || verdict.first == "blocked by the ICAP gateway", "\(verdict)")
        // Nobody listening: an error, never "clean".
        XCTAssertThrowsError(try ICAPClient(host: "127.0.0.1", port: gateway.port &+ 1, service: "avscan", timeout: 2).scan([1], label: "x"))
    }

    func testVerdictParsing() throws {
        XCTAssertEqual(try ICAPClient.verdict("ICAP/1.0 204 Unmodified\r\nISTag: x"), [])
        XCTAssertEqual(try ICAPClient.verdict("ICAP/1.0 200 OK\r\nX-Infection-Found: Type=0; Resolution=2; Threat=Eicar-Test;"), ["Eicar-Test"])
        XCTAssertThrowsError(try ICAPClient.verdict("ICAP/1.0 500 Server error"))
        XCTAssertThrowsError(try ICAPClient.verdict("HTTP/1.1 200 OK"))
    }
}
