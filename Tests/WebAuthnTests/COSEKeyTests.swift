import Crypto
import _CryptoExtras
@testable import WebAuthn
import XCTest

/// COSE keys made from swift-crypto keys: each parameter checked, signatures verified, bad keys refused by name.
final class COSEKeyTests: XCTestCase {
    static func ec2(alg: Int64 = -7, kty: Int64 = 2, crv: Int64 = 1, x: [UInt8], y: [UInt8]) -> [UInt8] {
        CBOREncoding.encode(CBOREncoding.map([(CBOR(1), CBOR(kty)), (CBOR(3), CBOR(alg)), (CBOR(-1), CBOR(crv)), (CBOR(-2), .bytes(x)), (CBOR(-3), .bytes(y))]))
    }

    static func ec2(_ key: P256.Signing.PublicKey) -> [UInt8] {
        let point = Array(key.x963Representation)
        return ec2(x: Array(point[1...32]), y: Array(point[33...64]))
    }

    static func rsa(n: [UInt8], e: [UInt8]) -> [UInt8] {
        CBOREncoding.encode(CBOREncoding.map([(CBOR(1), CBOR(3)), (CBOR(3), CBOR(-257)), (CBOR(-1), .bytes(n)), (CBOR(-2), .bytes(e))]))
    }

    func testES256SignaturesVerify() throws {
        let privateKey = P256.Signing.PrivateKey()
        let key = try COSEKey(bytes: Self.ec2(privateKey.publicKey))
        XCTAssertEqual(key.algorithm, .es256)
        let message = Array("authenticator data and client data hash".utf8)
        let signature = Array(try privateKey.signature(for: message).derRepresentation)
        XCTAssertTrue(key.isValidSignature(signature, for: message))
        XCTAssertFalse(key.isValidSignature(signature, for: message + [0]))
        XCTAssertFalse(key.isValidSignature(Array(try privateKey.signature(for: message).rawRepresentation), for: message),
                       "WebAuthn ES256 signatures are DER, not raw r||s")
        XCTAssertFalse(key.isValidSignature([], for: message))
    }

    func testEC2KeysAreChecked() throws {
        let point = Array(P256.Signing.PrivateKey().publicKey.x963Representation)
        let x = Array(point[1...32]), y = Array(point[33...64])
        var offCurve = y
        offCurve[31] ^= 1
        XCTAssertEqual(failure(Self.ec2(x: x, y: offCurve)), .malformedPublicKey("the point (x, y) is not on P-256"))
        XCTAssertEqual(failure(Self.ec2(crv: 2, x: x, y: y)), .malformedPublicKey("ES256 needs curve P-256 (1), found 2"))
        XCTAssertEqual(failure(Self.ec2(kty: 3, x: x, y: y)), .malformedPublicKey("ES256 needs key type EC2 (2), found 3"))
        XCTAssertEqual(failure(Self.ec2(x: Array(x.dropFirst()), y: y)),
                       .malformedPublicKey("P-256 coordinates x (-2) and y (-3) must be byte strings of 32 bytes"))
        XCTAssertEqual(failure(Self.ec2(alg: -8, x: x, y: y)), .unsupportedAlgorithm(-8))
        XCTAssertEqual(failure(Self.ec2(alg: -35, x: x, y: y)), .unsupportedAlgorithm(-35))
        XCTAssertEqual(failure(CBOREncoding.encode(CBOREncoding.map([(CBOR(1), CBOR(2))]))), .malformedPublicKey("no algorithm (label 3)"))
        XCTAssertEqual(failure(CBOREncoding.encode(CBOREncoding.map([(CBOR(3), .text("ES256"))]))),
                       .malformedPublicKey("the algorithm (label 3) is not an integer"))
        XCTAssertEqual(failure(CBOREncoding.encode(.array([]))), .malformedPublicKey("not a CBOR map"))
        XCTAssertEqual(failure(Self.ec2(x: x, y: y) + [0]), .trailingBytes(structure: "credential public key", offset: Self.ec2(x: x, y: y).count))
    }

    func testRS256SignaturesVerifyAndWeakKeysAreRefused() throws {
        let privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let primitives = try privateKey.publicKey.getKeyPrimitives()
        let n = Array(primitives.modulus), e = Array(primitives.publicExponent)
        let key = try COSEKey(bytes: Self.rsa(n: n, e: e))
        XCTAssertEqual(key.algorithm, .rs256)
        let message = Array("authenticator data and client data hash".utf8)
        let signature = Array(try privateKey.signature(for: message, padding: .insecurePKCS1v1_5).rawRepresentation)
        XCTAssertTrue(key.isValidSignature(signature, for: message))
        XCTAssertFalse(key.isValidSignature(Array(try privateKey.signature(for: message, padding: .PSS).rawRepresentation), for: message),
                       "RS256 is PKCS#1 v1.5, not PSS")
        XCTAssertNoThrow(try COSEKey(bytes: Self.rsa(n: [0] + n, e: [0] + e)), "leading zero bytes do not count")
        XCTAssertEqual(failure(Self.rsa(n: [0x7F] + n.dropFirst(), e: e)), .malformedPublicKey("an RSA modulus of 2047 bits; 2048 to 4096 are accepted"))
        XCTAssertEqual(failure(Self.rsa(n: n + n + [1], e: e)), .malformedPublicKey("an RSA modulus of 4104 bits; 2048 to 4096 are accepted"))
        for exponent: [UInt8] in [[1], [2], [0x01, 0x00, 0x00], [1, 0, 0, 0, 1], []] {
            XCTAssertEqual(failure(Self.rsa(n: n, e: exponent)),
                           .malformedPublicKey("an RSA public exponent that is not an odd number from 3 to 2^32 - 1"), "\(exponent)")
        }
    }

    private func failure(_ bytes: [UInt8]) -> WebAuthnError? {
        Result { () throws(WebAuthnError) in try COSEKey(bytes: bytes) }.failure
    }
}
