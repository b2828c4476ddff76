import Foundation
import TestSupport
import XCTest
@testable import OperatorAccess

final class OperatorAccessTests: XCTestCase {
    /// RFC 6238 Appendix B: the published test vectors for SHA-1, SHA-256 and SHA-512, 8 digits.
    func testRFC6238Vectors() {
        let seed20 = Array("12345678901234567890".utf8)
        let seed32 = Array("12345678901234567890123456789012".utf8)
        let seed64 = Array("1234567890123456789012345678901234567890123456789012345678901234".utf8)
        let vectors: [(Double, String, String, String)] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ]
        for (time, sha1, sha256, sha512) in vectors {
            let date = Date(timeIntervalSince1970: time)
            XCTAssertEqual(TOTP(secret: seed20, digits: 8).code(at: date), sha1, "SHA1 at \(time)")
            XCTAssertEqual(TOTP(secret: seed32, digits: 8, algorithm: .sha256).code(at: date), sha256, "SHA256 at \(time)")
            XCTAssertEqual(TOTP(secret: seed64, digits: 8, algorithm: .sha512).code(at: date), sha512, "SHA512 at \(time)")
        }
    }

    func testVerificationWindowAndBase32() {
        let totp = TOTP(secret: Array("12345678901234567890".utf8))
        let now = Date(timeIntervalSince1970: 1_111_111_111)
        XCTAssertNotNil(totp.verify(totp.code(at: now), at: now))
        XCTAssertNotNil(totp.verify(totp.code(at: now.addingTimeInterval(-30)), at: now), "one step of drift")
        XCTAssertNil(totp.verify(totp.code(at: now.addingTimeInterval(-90)), at: now))
        XCTAssertNil(totp.verify("12a456", at: now))
        XCTAssertNil(totp.verify("1234567", at: now))
        // RFC 4648 §10 vectors.
        XCTAssertEqual(Base32.encode(Array("foobar".utf8)), "MZXW6YTBOI")
        XCTAssertEqual(Base32.decode("mzxw6ytboi======"), Array("foobar".utf8))
        XCTAssertNil(Base32.decode("MZ1W"))
        XCTAssertEqual(Base32.encode(Array("12345678901234567890".utf8)), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        let uri = totp.provisioningURI(account: "Front Desk 1", issuer: "kiosk-agent")
        XCTAssertTrue(uri.hasPrefix("otpauth://totp/kiosk-agent:Front%20Desk%201?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=kiosk-agent"), uri)
    }

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
