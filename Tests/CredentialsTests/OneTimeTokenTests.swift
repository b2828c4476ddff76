import Credentials
import Foundation
import XCTest

final class OneTimeTokenTests: XCTestCase {
    func testGeneratedTokens() throws {
        let format = try NSRegularExpression(pattern: "^[A-Za-z0-9_-]{22}$")
        var seen: Set<String> = []
        for _ in 0..<1000 {
            let token = OneTimeToken.generate()
            XCTAssertEqual(token.bytes.count, 16)
            XCTAssertEqual(format.numberOfMatches(in: token.text, range: NSRange(token.text.startIndex..., in: token.text)), 1, token.text)
            let parsed = try XCTUnwrap(OneTimeToken(parsing: token.text), token.text)
            XCTAssertEqual(parsed, token)
            XCTAssertEqual(parsed.digest, token.digest)
            seen.insert(token.text)
        }
        XCTAssertEqual(seen.count, 1000)
    }

    /// Bytes 00…0f: base64url "AAECAwQFBgcICQoLDA0ODw" (base64 of them, padding off); SHA-256 from sha256sum.
    func testKnownToken() throws {
        let token = try XCTUnwrap(OneTimeToken(parsing: "AAECAwQFBgcICQoLDA0ODw"))
        XCTAssertEqual(token.bytes, Array(0...15))
        XCTAssertEqual(token.text, "AAECAwQFBgcICQoLDA0ODw")
        XCTAssertEqual(token.digest.map { String(format: "%02x", $0) }.joined(),
                       "be45cb2605bf36bebde684841a28f0fd43c69850a3dce5fedba69928ee3a8991")
        XCTAssertEqual(OneTimeToken(parsing: "_-_-_-_-_-_-_-_-_-_-_w")?.text, "_-_-_-_-_-_-_-_-_-_-_w")
    }

    func testParsingRefusesAnythingElse() {
        for bad in ["", "AAECAwQFBgcICQoLDA0OD", "AAECAwQFBgcICQoLDA0ODwA", "AAECAwQFBgcICQoLDA0ODw==",
                    "AAECAwQFBgcICQoLDA0O+w", "AAECAwQFBgcICQoLDA0O/w", "AAECAwQFBgcICQoLDA0O w", "AAECAwQFBgcICQoLDA0ODé",
                    " AAECAwQFBgcICQoLDA0ODw", "AAECAwQFBgcICQoLDA0ODx", "AAECAwQFBgcICQoLDA0OD_"] {
            XCTAssertNil(OneTimeToken(parsing: bad), bad)
        }
    }
}
