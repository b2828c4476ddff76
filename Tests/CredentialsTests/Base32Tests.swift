import Credentials
import XCTest

final class Base32Tests: XCTestCase {
    /// RFC 4648 §10, without padding (as otpauth URIs carry secrets) and with it.
    func testRFC4648Vectors() {
        let vectors = [("", ""), ("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foob", "MZXW6YQ"),
                       ("fooba", "MZXW6YTB"), ("foobar", "MZXW6YTBOI")]
        let padded = ["", "MY======", "MZXQ====", "MZXW6===", "MZXW6YQ=", "MZXW6YTB", "MZXW6YTBOI======"]
        for ((plain, encoded), withPadding) in zip(vectors, padded) {
            XCTAssertEqual(Base32.encode(Array(plain.utf8)), encoded)
            XCTAssertEqual(Base32.decode(encoded), Array(plain.utf8), encoded)
            XCTAssertEqual(Base32.decode(withPadding), Array(plain.utf8), withPadding)
            XCTAssertEqual(Base32.decode(encoded.lowercased()), Array(plain.utf8), "lower case")
        }
        XCTAssertEqual(Base32.encode(Array("12345678901234567890".utf8)), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        XCTAssertEqual(Base32.decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq"), Array("12345678901234567890".utf8), "grouped")
    }

    func testRoundTripsAndRefusals() {
        var generator = SystemRandomNumberGenerator()
        for count in 0...70 {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            XCTAssertEqual(Base32.decode(Base32.encode(bytes)), bytes, "\(count) bytes")
        }
        // Not the alphabet (0, 1, 8, 9, punctuation, non-ASCII), or a length no byte string encodes to.
        for bad in ["MZ1W", "MZXW6YTB0I", "MZXW6YTBOI!", "MZXÄ", "M", "MZX", "MZXW6Y"] {
            XCTAssertNil(Base32.decode(bad), bad)
        }
    }
}
