import Credentials
import Foundation
import XCTest

final class RecoveryCodesTests: XCTestCase {
    func testGeneratedCodesAreDistinctAndReadable() throws {
        let codes = RecoveryCodes.generate()
        XCTAssertEqual(codes.count, 10)
        let format = try NSRegularExpression(pattern: "^[0-9abcdefghjkmnpqrstvwxyz]{5}-[0-9abcdefghjkmnpqrstvwxyz]{5}$")
        for code in codes {
            XCTAssertEqual(format.numberOfMatches(in: code, range: NSRange(code.startIndex..., in: code)), 1, code)
            XCTAssertEqual(RecoveryCodes.normalize(code), code.replacingOccurrences(of: "-", with: ""))
        }
        let many = RecoveryCodes.generate(count: 2000)
        XCTAssertEqual(Set(many).count, 2000)
        XCTAssertEqual(Set(many.compactMap(RecoveryCodes.digest)).count, 2000)
        XCTAssertEqual(RecoveryCodes.generate(count: 0), [])
    }

    func testNormalisation() {
        for typed in ["k7tm9-qx2hp", "K7TM9-QX2HP", "k7tm9qx2hp", " k7tm9 qx2hp ", "k7-tm-9q-x2-hp", "K7TM9\tQX2HP"] {
            XCTAssertEqual(RecoveryCodes.normalize(typed), "k7tm9qx2hp", typed)
        }
        // Letters outside the alphabet read as the digits they look like.
        XCTAssertEqual(RecoveryCodes.normalize("OIL00-11abc"), "0110011abc")
        for bad in ["", "k7tm9-qx2h", "k7tm9-qx2hpp", "k7tm9-qx2hu", "k7tm9_qx2hp", "k7tm9-qx2hé", "k7tm9-qx2h\u{0}",
                    String(repeating: "-", count: 100) + "k7tm9qx2hp"] {
            XCTAssertNil(RecoveryCodes.normalize(bad), bad)
        }
    }

    func testDigestAndMatching() throws {
        // SHA-256 of the normalised code, "k7tm9qx2hp" (sha256sum).
        let expected = "5bd93822d0a9881db0a4e805f51b9b183f34c3d0d418c48888f9e7af4a41e5e0"
        XCTAssertEqual(RecoveryCodes.digest("K7TM9 QX2HP")?.map { String(format: "%02x", $0) }.joined(), expected)
        XCTAssertNil(RecoveryCodes.digest("not a code"))
        let codes = RecoveryCodes.generate()
        let stored = try codes.map { try XCTUnwrap(RecoveryCodes.digest($0)) }
        for (index, code) in codes.enumerated() {
            XCTAssertEqual(RecoveryCodes.match(code.uppercased(), among: stored), index)
        }
        XCTAssertNil(RecoveryCodes.match("k7tm9-qx2hp", among: stored))
        XCTAssertNil(RecoveryCodes.match("garbage", among: stored))
        XCTAssertNil(RecoveryCodes.match(codes[0], among: []))
    }
}
