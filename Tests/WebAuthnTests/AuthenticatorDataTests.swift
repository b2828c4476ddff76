import Crypto
@testable import WebAuthn
import XCTest

/// Authenticator data built byte by byte: each field boundary, the credential ID limit, extensions consumed
/// exactly, nothing after the end.
final class AuthenticatorDataTests: XCTestCase {
    static let rpIDHash = Array(SHA256.hash(data: Array("portal.example.org".utf8)))
    static let key = CBOREncoding.encode(CBOREncoding.map([
        (CBOR(1), CBOR(2)), (CBOR(3), CBOR(-7)), (CBOR(-1), CBOR(1)),
        (CBOR(-2), .bytes(Array(repeating: 1, count: 32))), (CBOR(-3), .bytes(Array(repeating: 2, count: 32))),
    ]))

    static func authenticatorData(flags: UInt8, counter: UInt32 = 0x0102_0304, credentialID: [UInt8]? = nil, extensions: [UInt8] = []) -> [UInt8] {
        var bytes = rpIDHash + [flags] + withUnsafeBytes(of: counter.bigEndian, Array.init)
        if let credentialID {
            bytes += Array(repeating: 0xAA, count: 16) + [UInt8(credentialID.count >> 8), UInt8(credentialID.count & 0xFF)] + credentialID + key
        }
        return bytes + extensions
    }

    func testFieldsAndFlags() throws {
        let parsed = try AuthenticatorData(Self.authenticatorData(flags: 0x5D, credentialID: [9, 8, 7]))
        XCTAssertEqual(parsed.rpIDHash, Self.rpIDHash)
        XCTAssertEqual(parsed.flags, [.userPresent, .userVerified, .backupEligible, .backupState, .attestedCredentialData])
        XCTAssertEqual(parsed.signCount, 0x0102_0304)
        XCTAssertEqual(parsed.attestedCredential?.aaguid, Array(repeating: 0xAA, count: 16))
        XCTAssertEqual(parsed.attestedCredential?.credentialID, [9, 8, 7])
        XCTAssertEqual(parsed.attestedCredential?.publicKeyBytes, Self.key)
        let assertion = try AuthenticatorData(Self.authenticatorData(flags: 0x01))
        XCTAssertNil(assertion.attestedCredential)
    }

    func testShortOrOverlongInput() {
        XCTAssertEqual(failure(Array(Self.authenticatorData(flags: 1).dropLast())),
                       .malformedAuthenticatorData("36 bytes, shorter than the 37 of rpIdHash, flags and signCount"))
        XCTAssertEqual(failure(Self.authenticatorData(flags: 1) + [0]), .trailingBytes(structure: "authenticator data", offset: 37))
        XCTAssertEqual(failure(Self.authenticatorData(flags: 0x41)),
                       .malformedAuthenticatorData("the AT flag is set and the attested credential data is cut short at byte 37"))
        let full = Self.authenticatorData(flags: 0x41, credentialID: [1, 2])
        XCTAssertEqual(failure(Array(full.dropLast())), .malformedCBOR(structure: "authenticator data", offset: full.count - 34,
                                                                       problem: .lengthExceedsInput(claimed: 32, remaining: 31)))
        XCTAssertEqual(failure(full + [0xF6]), .trailingBytes(structure: "authenticator data", offset: full.count))
    }

    func testCredentialIDLimit() throws {
        XCTAssertEqual(try AuthenticatorData(Self.authenticatorData(flags: 0x41, credentialID: Array(repeating: 3, count: 1023)))
            .attestedCredential?.credentialID.count, 1023)
        XCTAssertEqual(failure(Self.authenticatorData(flags: 0x41, credentialID: Array(repeating: 3, count: 1024))),
                       .malformedAuthenticatorData("credential ID of 1024 bytes, over WebAuthn's 1023"))
        var claimsMore = Self.authenticatorData(flags: 0x41, credentialID: [1])
        claimsMore[54] = 200
        XCTAssertEqual(failure(claimsMore), .malformedAuthenticatorData("credential ID of 200 bytes and only \(claimsMore.count - 55) remain"))
    }

    func testExtensionsAreConsumedExactly() throws {
        let extensions = CBOREncoding.encode(CBOREncoding.map([(.text("credProtect"), CBOR(2)), (.text("hmac-secret"), .bool(true))]))
        XCTAssertNoThrow(try AuthenticatorData(Self.authenticatorData(flags: 0xC5, credentialID: [1], extensions: extensions)))
        XCTAssertNoThrow(try AuthenticatorData(Self.authenticatorData(flags: 0x85, extensions: extensions)))
        XCTAssertEqual(failure(Self.authenticatorData(flags: 0x85, extensions: extensions + [0])),
                       .trailingBytes(structure: "authenticator data", offset: 37 + extensions.count))
        XCTAssertEqual(failure(Self.authenticatorData(flags: 0x85, extensions: [0x01])),
                       .malformedAuthenticatorData("the extensions at byte 37 are not a CBOR map"))
        XCTAssertEqual(failure(Self.authenticatorData(flags: 0x85)), .malformedCBOR(structure: "authenticator data", offset: 37, problem: .truncated))
        // Extensions without the ED flag are bytes after the end.
        XCTAssertEqual(failure(Self.authenticatorData(flags: 0x05, extensions: extensions)), .trailingBytes(structure: "authenticator data", offset: 37))
    }

    func testBackupStateNeedsEligibility() {
        XCTAssertEqual(failure(Self.authenticatorData(flags: 0x11)), .inconsistentBackupFlags)
    }

    private func failure(_ bytes: [UInt8]) -> WebAuthnError? {
        Result { () throws(WebAuthnError) in try AuthenticatorData(bytes) }.failure
    }
}
