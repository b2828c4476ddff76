import Credentials
import Foundation
import TestSupport
import XCTest

final class SealingKeyTests: XCTestCase {
    private let keyName = SealingKey.Name(owner: "the test's key", losing: "every test secret unreadable")

    func testMadeOnceOwnerOnlyThenReadAndAShortFileIsAnError() throws {
        let temporary = try TestSupport.TemporaryDirectory("sealing-key")
        defer { temporary.cleanUp() }
        let url = URL(fileURLWithPath: temporary.path("state/test.key"))
        let key = try SealingKey.loadOrCreate(at: url, name: keyName)
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let again = try SealingKey.loadOrCreate(at: url, name: keyName)
        XCTAssertEqual(try again.open(try key.seal([9, 8, 7])), [9, 8, 7])
        XCTAssertEqual(again.derive("webauthn-user:a"), key.derive("webauthn-user:a"))
        XCTAssertEqual(key.derive("webauthn-user:a").count, 16)
        XCTAssertNotEqual(key.derive("webauthn-user:a"), key.derive("webauthn-user:b"))

        try Data([1, 2]).write(to: url)
        XCTAssertThrowsError(try SealingKey.loadOrCreate(at: url, name: keyName)) { error in
            XCTAssertEqual(error as? SealingKeyError, .badKeyFile(keyName, url.path, 2))
            XCTAssertTrue("\(error)".contains("the test's key"), "\(error)")
        }
    }

    func testASecretSealedWithAnotherKeyDoesNotOpen() throws {
        let temporary = try TestSupport.TemporaryDirectory("sealing-key")
        defer { temporary.cleanUp() }
        let first = try SealingKey.loadOrCreate(at: URL(fileURLWithPath: temporary.path("a.key")), name: keyName)
        let second = try SealingKey.loadOrCreate(at: URL(fileURLWithPath: temporary.path("b.key")), name: keyName)
        XCTAssertThrowsError(try second.open(try first.seal([1]))) { error in
            XCTAssertEqual(error as? SealingKeyError, .unsealable(keyName, "b.key"))
        }
    }
}

final class SignInThrottleTests: XCTestCase {
    func testFreeMistakesThenDoublingPerCounter() async {
        let rule = SignInThrottle()
        let now = Date(timeIntervalSince1970: 1_000_000)
        XCTAssertEqual(rule.counters(account: "Ann@Example.org", address: nil).map(\.key), ["account:ann@example.org", "address:unknown"])
        let free = await rule.wait(account: "ann", address: "10.0.0.1", now: now) { _ in (3, now) }
        XCTAssertEqual(free, 0, "three free mistakes per account")
        let account = await rule.wait(account: "ann", address: "10.0.0.1", now: now) { $0.hasPrefix("account:") ? (5, now.addingTimeInterval(-1)) : nil }
        XCTAssertEqual(account, 3, "2^2 seconds after the last failure, one already past")
        let address = await rule.wait(account: "ann", address: "10.0.0.1", now: now) { $0.hasPrefix("address:") ? (40, now) : nil }
        XCTAssertEqual(address, 900, "capped at a quarter of an hour")
    }
}
