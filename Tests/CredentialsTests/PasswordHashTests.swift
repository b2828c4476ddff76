import Credentials
import Foundation
import TestSupport
import XCTest

final class PasswordHashTests: XCTestCase {
    /// Written by OperatorStore.add("fixture", pin: "402918") with the default settings, before the hash
    /// moved here (the `pinHash` column of a kiosk's operators.sqlite): existing databases must keep working.
    static let operatorDatabaseHash = "scrypt$32768$8$1$9K44xt4hzo4irNRX/0W+tg==$sE7Kch174MgaikuQ7BiE0yeJpv/VGW0KyhgYiMmlhVQ="
    /// Written by the old PINHash.make("402918", rounds: 1 << 10), the cost the kiosk's tests use.
    static let cheapOperatorHash = "scrypt$1024$8$1$uGsQpYM7TbKtajJMXsi+DA==$Ur1ur2vF/0ioZQo+2/1SuRNU7Zm5ryYb4s1KkVkz+U0="

    func testHashesWrittenBeforeTheMoveStillVerify() {
        XCTAssertTrue(PasswordHash.verify("402918", against: Self.operatorDatabaseHash))
        XCTAssertFalse(PasswordHash.verify("402919", against: Self.operatorDatabaseHash))
        XCTAssertTrue(PasswordHash.verify("402918", against: Self.cheapOperatorHash))
        XCTAssertFalse(PasswordHash.verify("", against: Self.cheapOperatorHash))
        XCTAssertTrue(PasswordHash.verify("４０２９１８", against: Self.cheapOperatorHash), "full-width digits are the same PIN after NFKC")
    }

    func testRoundTripAndFormat() throws {
        let stored = try PasswordHash.make("correct horse battery staple", cost: 1 << 10)
        XCTAssertTrue(PasswordHash.verify("correct horse battery staple", against: stored))
        XCTAssertFalse(PasswordHash.verify("correct horse battery stapler", against: stored))
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(Array(parts.prefix(4)), ["scrypt", "1024", "8", "1"])
        XCTAssertEqual(Data(base64Encoded: parts[4])?.count, 16, "salt")
        XCTAssertEqual(Data(base64Encoded: parts[5])?.count, 32, "hash")
        XCTAssertNotEqual(try PasswordHash.make("correct horse battery staple", cost: 1 << 10), stored, "a fresh salt each time")
        XCTAssertTrue(try PasswordHash.make("x", cost: PasswordHash.defaultCost).hasPrefix("scrypt$32768$8$1$"))
    }

    /// Python's hashlib.scrypt (OpenSSL's) derives the same hash from our salt: the format is plain scrypt.
    func testMatchesAnIndependentScrypt() throws {
        let python = try TestSupport.tool("python3")
        let stored = try PasswordHash.make("Grüße aus Zürich", cost: 1 << 12)
        let parts = stored.split(separator: "$").map(String.init)
        let script = """
            import base64, hashlib, sys, unicodedata
            password = unicodedata.normalize("NFKC", sys.argv[1]).encode()
            key = hashlib.scrypt(password, salt=base64.b64decode(sys.argv[2]), n=int(sys.argv[3]), r=8, p=1, dklen=32)
            print(base64.b64encode(key).decode())
            """
        let result = try TestSupport.run(python, ["-c", script, "Grüße aus Zürich", parts[4], parts[1]])
        XCTAssertEqual(result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), parts[5])
    }

    /// NFKC before hashing: the same password however it was composed or typed.
    func testNormalisedBeforeHashing() throws {
        let stored = try PasswordHash.make("ﬁnancial ﬁles café", cost: 1 << 10)
        XCTAssertTrue(PasswordHash.verify("financial files café", against: stored), "ligature ﬁ is fi")
        XCTAssertTrue(PasswordHash.verify("financial files cafe\u{301}", against: stored), "e + combining acute is é")
        XCTAssertFalse(PasswordHash.verify("financial files cafe", against: stored))
    }

    func testDecoyAndUnusableHashes() throws {
        let decoy = PasswordHash.decoy(cost: 1 << 10)
        XCTAssertTrue(decoy.hasPrefix("scrypt$1024$8$1$"), "a decoy is a well-formed hash at the cost asked for")
        XCTAssertFalse(PasswordHash.verify("", against: decoy))
        XCTAssertFalse(PasswordHash.verify("402918", against: nil, decoyCost: 1 << 10))
        XCTAssertTrue(PasswordHash.verify("402918", against: Self.cheapOperatorHash, decoyCost: 1 << 10))
        let salt = "uGsQpYM7TbKtajJMXsi+DA==", hash = "Ur1ur2vF/0ioZQo+2/1SuRNU7Zm5ryYb4s1KkVkz+U0="
        for bad in ["", "scrypt", "bcrypt$1024$8$1$\(salt)$\(hash)", "scrypt$1000$8$1$\(salt)$\(hash)",
                    "scrypt$512$8$1$\(salt)$\(hash)", "scrypt$2097152$8$1$\(salt)$\(hash)", "scrypt$1024$16$1$\(salt)$\(hash)",
                    "scrypt$1024$8$2$\(salt)$\(hash)", "scrypt$1024$8$1$\(salt)$not base64", "scrypt$1024$8$1$\(salt)$\(hash)$",
                    "scrypt$$1024$8$1$\(salt)$\(hash)"] {
            XCTAssertFalse(PasswordHash.verify("402918", against: bad), bad)
        }
        for cost in [0, 1000, 1 << 9, 1 << 21] {
            XCTAssertThrowsError(try PasswordHash.make("402918", cost: cost), "cost \(cost)")
        }
    }
}
