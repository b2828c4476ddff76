import Crypto
import Foundation
@testable import WebAuthn
import XCTest

/// clientDataJSON checks, the options JSON the browser receives, and base64url, with a swift-crypto ES256 key as
/// the authenticator where a signature is needed.
final class CeremonyTests: XCTestCase {
    let relyingParty = RelyingParty(id: "portal.example.org", name: "Portal", origins: ["https://portal.example.org", "https://portal.example.org:8443"])
    let challenge = Array("a challenge of thirty-two bytes!".utf8)

    private func clientData(_ members: String) -> [UInt8] { Array("{\(members)}".utf8) }

    private func check(_ json: [UInt8], _ ceremony: ClientData.Ceremony = .get) -> WebAuthnError? {
        Result { () throws(WebAuthnError) in
            try ClientData.check(json, ceremony: ceremony, challenge: challenge, origins: relyingParty.origins)
        }.failure
    }

    func testClientData() {
        let encoded = Base64URL.encode(challenge)
        let base = #""type":"webauthn.get","challenge":"\#(encoded)","origin":"https://portal.example.org""#
        XCTAssertNil(check(clientData(base)))
        XCTAssertNil(check(clientData(base + #","crossOrigin":false,"tokenBinding":{"status":"present","id":"x"},"other_keys_can_be_added_here":"x""#)))
        XCTAssertNil(check(clientData(#""type":"webauthn.get","challenge":"\#(encoded)","origin":"https://portal.example.org:8443""#)))
        XCTAssertEqual(check(clientData(base), .create), .wrongType(expected: "webauthn.create", received: "webauthn.get"))
        XCTAssertEqual(check(clientData(base + #","crossOrigin":true,"topOrigin":"https://evil.example.com""#)), .crossOrigin)
        XCTAssertEqual(check(clientData(#""type":"webauthn.get","challenge":"\#(encoded)","origin":"https://portal.example.org/""#)),
                       .originNotAllowed("https://portal.example.org/"), "origins are compared exactly")
        XCTAssertEqual(check(clientData(#""type":"webauthn.get","challenge":"\#(encoded)","origin":"http://portal.example.org""#)),
                       .originNotAllowed("http://portal.example.org"))
        XCTAssertEqual(check(clientData(#""type":"webauthn.get","challenge":"\#(encoded)=","origin":"https://portal.example.org""#)),
                       .challengeMismatch, "padding is not canonical base64url")
        XCTAssertEqual(check(clientData(#""type":"webauthn.get","challenge":"\#(encoded.dropLast())","origin":"https://portal.example.org""#)),
                       .challengeMismatch)
        XCTAssertEqual(check(clientData(#""type":"webauthn.get","origin":"https://portal.example.org""#)), .malformedClientData("no \"challenge\" member"))
        XCTAssertEqual(check(clientData(#""type":"webauthn.get","challenge":"\#(encoded)","origin":"https://portal.example.org","crossOrigin":"no""#)),
                       .malformedClientData("\"crossOrigin\" has the wrong type"))
        XCTAssertEqual(check(Array("[1]".utf8)), .malformedClientData("not a JSON object"))
        XCTAssertEqual(check(Array("{".utf8)), .malformedClientData("not a JSON object"))
        XCTAssertEqual(check(clientData(base + ",\"pad\":\"" + String(repeating: "x", count: 4096) + "\"")),
                       .limitExceeded(what: "clientDataJSON", size: 4096 + base.utf8.count + 11, limit: 4096))
    }

    func testAssertionWithSwiftCryptoKey() throws {
        let privateKey = P256.Signing.PrivateKey()
        let publicKey = COSEKeyTests.ec2(privateKey.publicKey)
        let json = clientData(#""type":"webauthn.get","challenge":"\#(Base64URL.encode(challenge))","origin":"https://portal.example.org""#)
        let authenticatorData = AuthenticatorDataTests.authenticatorData(flags: 0x1D, counter: 0)
        let signature = Array(try privateKey.signature(for: authenticatorData + SHA256.hash(data: json)).derRepresentation)
        let result = try relyingParty.verifyAssertion(clientDataJSON: json, authenticatorData: authenticatorData, signature: signature,
                                                      credentialPublicKey: publicKey, storedSignCount: 0, expectedChallenge: challenge,
                                                      requireUserVerification: true)
        XCTAssertEqual(result, AssertionResult(signCount: 0, userVerified: true, backupState: true))
        let other = RelyingParty(id: "example.org", name: "Portal", origins: relyingParty.origins)
        XCTAssertThrowsError(try other.verifyAssertion(clientDataJSON: json, authenticatorData: authenticatorData, signature: signature,
                                                       credentialPublicKey: publicKey, storedSignCount: 0, expectedChallenge: challenge,
                                                       requireUserVerification: true)) { XCTAssertEqual($0 as? WebAuthnError, .rpIDHashMismatch) }
        XCTAssertThrowsError(try relyingParty.verifyAssertion(clientDataJSON: json, authenticatorData: authenticatorData,
                                                              signature: Array(repeating: 0, count: 2048), credentialPublicKey: publicKey,
                                                              storedSignCount: 0, expectedChallenge: challenge, requireUserVerification: true)) {
            XCTAssertEqual($0 as? WebAuthnError, .limitExceeded(what: "signature", size: 2048, limit: 1024))
        }
    }

    func testRegistrationWithSwiftCryptoKeyAndKeySizeLimit() throws {
        let json = clientData(#""type":"webauthn.create","challenge":"\#(Base64URL.encode(challenge))","origin":"https://portal.example.org""#)
        func register(_ key: [UInt8]) throws(WebAuthnError) -> RegistrationResult {
            let authenticatorData = AuthenticatorDataTests.rpIDHash + [0x45, 0, 0, 0, 0] + Array(repeating: 0, count: 16) + [0, 2, 7, 7] + key
            let attestation = CBOREncoding.encode(CBOREncoding.map([
                (.text("fmt"), .text("none")), (.text("attStmt"), .map([])), (.text("authData"), .bytes(authenticatorData)),
            ]))
            return try relyingParty.verifyRegistration(clientDataJSON: json, attestationObject: attestation, expectedChallenge: challenge,
                                                       requireUserVerification: true)
        }
        let key = COSEKeyTests.ec2(P256.Signing.PrivateKey().publicKey)
        let result = try register(key)
        XCTAssertEqual(result.credentialID, [7, 7])
        XCTAssertEqual(result.publicKey, key)
        XCTAssertEqual(result.algorithm, .es256)
        // Unknown COSE labels are allowed, but not a key larger than sign-in accepts.
        var padded = key
        padded[0] += 1
        padded += CBOREncoding.encode(CBOR(4)) + CBOREncoding.encode(.bytes(Array(repeating: 0, count: 3000)))
        XCTAssertEqual(Result { () throws(WebAuthnError) in try register(padded) }.failure,
                       .limitExceeded(what: "credential public key", size: padded.count, limit: 2048))
    }

    func testCreationAndRequestOptionsJSON() throws {
        let options = relyingParty.creationOptions(challenge: challenge, userID: [1, 2, 3], userName: "patient@example.org",
                                                   displayName: "Jane Doe", excluding: [[0xFF, 0xEE]])
        let encoded = try JSONEncoder().encode(options)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        XCTAssertEqual(json["challenge"] as? String, Base64URL.encode(challenge))
        XCTAssertEqual(json["rp"] as? [String: String], ["id": "portal.example.org", "name": "Portal"])
        XCTAssertEqual(json["user"] as? [String: String], ["id": "AQID", "name": "patient@example.org", "displayName": "Jane Doe"])
        XCTAssertEqual((json["pubKeyCredParams"] as? [[String: Any]])?.compactMap { $0["alg"] as? Int }, [-7, -257])
        XCTAssertEqual((json["pubKeyCredParams"] as? [[String: Any]])?.compactMap { $0["type"] as? String }, ["public-key", "public-key"])
        XCTAssertEqual(json["excludeCredentials"] as? [[String: String]], [["type": "public-key", "id": "_-4"]])
        let selection = json["authenticatorSelection"] as? [String: Any]
        XCTAssertEqual(selection?["residentKey"] as? String, "preferred")
        XCTAssertEqual(selection?["userVerification"] as? String, "preferred")
        XCTAssertTrue(String(decoding: encoded, as: UTF8.self).contains(#""requireResidentKey":false"#), "a JSON boolean")
        XCTAssertEqual(json["attestation"] as? String, "none")
        XCTAssertEqual(json["timeout"] as? Int, 300_000)

        let request = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(
            relyingParty.requestOptions(challenge: challenge, allowing: [[1]], userVerification: .required))) as? [String: Any])
        XCTAssertEqual(request["rpId"] as? String, "portal.example.org")
        XCTAssertEqual(request["allowCredentials"] as? [[String: String]], [["type": "public-key", "id": "AQ"]])
        XCTAssertEqual(request["userVerification"] as? String, "required")
        XCTAssertEqual(request["challenge"] as? String, Base64URL.encode(challenge))
    }

    func testBase64URL() {
        let vectors: [(String, String)] = [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64URL.encode(Array(plain.utf8)), encoded)
            XCTAssertEqual(Base64URL.decode(encoded), Array(plain.utf8))
        }
        XCTAssertEqual(Base64URL.encode([0xFB, 0xFF]), "-_8")
        for bad in ["Zg==", "Z", "Zh", "Zm9" /* non-zero bits after the last byte */, "Zm+v", "Zm/v", "Zm9v ", "Zm9v\n", "Zm9vé"] { XCTAssertNil(Base64URL.decode(bad), bad) }
    }
}
