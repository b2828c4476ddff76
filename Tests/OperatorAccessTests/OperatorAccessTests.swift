import Credentials
import Foundation
import TestSupport
import XCTest
@testable import OperatorAccess

final class OperatorAccessTests: XCTestCase {
    private func store(_ dir: TestSupport.TemporaryDirectory) throws -> OperatorStore {
        var settings = OperatorStore.Settings()
        settings.scryptCost = 1 << 10    // fast in tests; the default is 2^15
        return try OperatorStore(directory: dir.url.appendingPathComponent("operators"), settings: settings)
    }

    func testSignInNeedsPINAndACodeThatIsGoodOnce() throws {
        let dir = try TestSupport.TemporaryDirectory("operators")
        let store = try store(dir)
        let totp = try store.add("alice", pin: "402918")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        XCTAssertEqual(try store.signIn("alice", pin: "402918", code: totp.code(at: now), now: now), .signedIn("alice"))
        XCTAssertEqual(try store.signIn("alice", pin: "402918", code: totp.code(at: now), now: now), .denied, "a code is good once")
        XCTAssertEqual(try store.signIn("alice", pin: "111111", code: totp.code(at: now.addingTimeInterval(30)),
                                        now: now.addingTimeInterval(30)), .denied, "wrong PIN")
        XCTAssertEqual(try store.signIn("mallory", pin: "402918", code: "123456", now: now), .denied)
        XCTAssertEqual(try store.list().map(\.name), ["alice"])
        XCTAssertThrowsError(try store.add("alice", pin: "402918"))
        // Nothing secret in clear on disk.
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path("operators"))
        for file in files {
            let bytes = try Data(contentsOf: dir.url.appendingPathComponent("operators/\(file)"))
            XCTAssertNil(bytes.range(of: Data("402918".utf8)), "\(file) holds the PIN")
            XCTAssertNil(bytes.range(of: Data(totp.secret)), "\(file) holds the TOTP secret")
        }
        let mode = try FileManager.default.attributesOfItem(atPath: dir.path("operators/operators.key"))[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
    }

    func testRepeatedFailuresLockTheOperatorWithGrowingLockouts() throws {
        let dir = try TestSupport.TemporaryDirectory("operators-lock")
        let store = try store(dir)
        let totp = try store.add("bob", pin: "739104")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        for _ in 1...4 { XCTAssertEqual(try store.signIn("bob", pin: "000001", code: "000000", now: now), .denied) }
        XCTAssertEqual(try store.signIn("bob", pin: "000001", code: "000000", now: now), .locked(until: now.addingTimeInterval(300)))
        // Even the right PIN and code are refused while locked.
        XCTAssertEqual(try store.signIn("bob", pin: "739104", code: totp.code(at: now), now: now), .locked(until: now.addingTimeInterval(300)))
        let later = now.addingTimeInterval(301)
        XCTAssertEqual(try store.signIn("bob", pin: "000001", code: "000000", now: later), .locked(until: later.addingTimeInterval(600)))
        try store.unlock("bob")
        XCTAssertEqual(try store.signIn("bob", pin: "739104", code: totp.code(at: later), now: later), .signedIn("bob"))
        XCTAssertEqual(try store.list().first?.failures, 0)
        try store.remove("bob")
        XCTAssertThrowsError(try store.remove("bob"))
    }

    func testWeakPINsAndBadNamesAreRefused() throws {
        let dir = try TestSupport.TemporaryDirectory("operators-pin")
        let store = try store(dir)
        for pin in ["12345", "123456", "987654", "000000", "12a456", "1234567890123", "１２３４５８"] {
            XCTAssertThrowsError(try store.add("carol", pin: pin), pin)
        }
        for name in ["", " padded", "tab\there", String(repeating: "x", count: 65)] {
            XCTAssertThrowsError(try store.add(name, pin: "402918"), name)
        }
        XCTAssertTrue(try store.list().isEmpty)
    }
}
