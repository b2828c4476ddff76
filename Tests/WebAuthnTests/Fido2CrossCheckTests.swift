import Foundation
import TestSupport
@testable import WebAuthn
import XCTest

/// Registrations and assertions made by PyPI fido2 acting as the authenticator (fido2_peer.py, from fido2's own
/// data classes and COSE keys), verified here and by fido2's Fido2Server: valid ones both accept, and each
/// mutation both refuse, ours with the specific error. Where Fido2Server checks nothing (counters, crossOrigin,
/// attestation when "none" was asked, key algorithms and sizes), the table says so and ours refuses alone.
final class Fido2CrossCheckTests: XCTestCase {
    static let origin = "https://portal.example.org"
    let relyingParty = RelyingParty(id: "portal.example.org", name: "Portal", origins: [origin])

    struct Ceremonies: Decodable {
        let credentialId: String
        let publicKey: String
        let cases: [Case]
    }

    struct Case: Decodable {
        let name: String
        let ceremony: String
        let requireUserVerification: Bool
        let storedSignCount: UInt32
        let clientDataJSON: String
        let attestationObject: String?
        let authenticatorData: String?
        let signature: String?
        let fido2: String
    }

    /// What each side says about a case: our error (nil = accepted) and whether Fido2Server refuses it.
    struct Expectation {
        let ours: WebAuthnError?
        let fido2Refuses: Bool
    }

    static let accepted = Expectation(ours: nil, fido2Refuses: false)
    static func bothRefuse(_ error: WebAuthnError) -> Expectation { Expectation(ours: error, fido2Refuses: true) }
    /// Fido2Server leaves this check to the caller (or does not make it): only ours refuses.
    static func onlyOursRefuses(_ error: WebAuthnError) -> Expectation { Expectation(ours: error, fido2Refuses: false) }

    func ceremonies(_ algorithm: String, challenge: [UInt8]) throws -> Ceremonies {
        let (python, environment) = try TestSupport.pythonWith(["fido2", "cryptography"])
        let script = TestSupport.fido2Peer
        let result = try TestSupport.run(python, [script, relyingParty.id, Self.origin, Base64URL.encode(challenge), algorithm],
                                         environment: environment)
        return try JSONDecoder().decode(Ceremonies.self, from: result.stdout)
    }

    func registrationExpectations(_ algorithm: String, _ ceremonies: Ceremonies, _ valid: Case) throws -> [String: Expectation] {
        let attestationLength = try XCTUnwrap(Base64URL.decode(valid.attestationObject ?? "")).count
        let credentialLength = try XCTUnwrap(Base64URL.decode(ceremonies.credentialId)).count
        let keyLength = try XCTUnwrap(Base64URL.decode(ceremonies.publicKey)).count
        var table: [String: Expectation] = [
            "valid": Self.accepted,
            "valid-without-uv": Self.accepted,
            "backed-up": Self.accepted,
            "extensions": Self.accepted,
            "packed-self-attestation": Self.accepted,
            "wrong-challenge": Self.bothRefuse(.challengeMismatch),
            "wrong-origin": Self.bothRefuse(.originNotAllowed("https://evil.example.com")),
            "wrong-rp-id": Self.bothRefuse(.rpIDHashMismatch),
            "up-cleared": Self.bothRefuse(.userNotPresent),
            "uv-cleared-required": Self.bothRefuse(.userNotVerified),
            "wrong-type": Self.bothRefuse(.wrongType(expected: "webauthn.create", received: "webauthn.get")),
            "trailing-bytes": Self.bothRefuse(.trailingBytes(structure: "attestation object", offset: attestationLength)),
            "trailing-bytes-in-auth-data": Self.bothRefuse(.trailingBytes(structure: "authenticator data", offset: 37 + 18 + credentialLength + keyLength)),
            "cross-origin": Self.onlyOursRefuses(.crossOrigin),
            "backup-state-without-eligibility": Self.onlyOursRefuses(.inconsistentBackupFlags),
            "unregistered-format": Self.onlyOursRefuses(.attestationFormatNotSupported("x-custom")),
            "none-with-statement": Self.onlyOursRefuses(.malformedAttestationStatement("format \"none\" with a non-empty statement (1 entries)")),
        ]
        if algorithm == "ES256" {
            table["eddsa-key"] = Self.onlyOursRefuses(.unsupportedAlgorithm(-8))
        } else {
            table["rsa-1024"] = Self.onlyOursRefuses(.malformedPublicKey("an RSA modulus of 1024 bits; 2048 to 4096 are accepted"))
        }
        return table
    }

    static let assertionExpectations: [String: Expectation] = [
        "valid": accepted,
        "valid-without-counter": accepted,
        "valid-without-uv": accepted,
        "extensions": accepted,
        "wrong-challenge": bothRefuse(.challengeMismatch),
        "wrong-origin": bothRefuse(.originNotAllowed("https://evil.example.com")),
        "wrong-rp-id": bothRefuse(.rpIDHashMismatch),
        "up-cleared": bothRefuse(.userNotPresent),
        "uv-cleared-required": bothRefuse(.userNotVerified),
        "wrong-type": bothRefuse(.wrongType(expected: "webauthn.get", received: "webauthn.create")),
        "signature-bit-flipped": bothRefuse(.badSignature),
        "trailing-bytes": bothRefuse(.trailingBytes(structure: "authenticator data", offset: 37)),
        "counter-went-backwards": onlyOursRefuses(.signCountNotIncreased(stored: 7, received: 5)),
        "counter-not-increased": onlyOursRefuses(.signCountNotIncreased(stored: 7, received: 7)),
        "counter-stopped": onlyOursRefuses(.signCountNotIncreased(stored: 7, received: 0)),
        "cross-origin": onlyOursRefuses(.crossOrigin),
    ]

    func testES256() throws { try crossCheck("ES256", expecting: .es256) }

    func testRS256() throws { try crossCheck("RS256", expecting: .rs256) }

    private func crossCheck(_ algorithm: String, expecting coseAlgorithm: COSEAlgorithm) throws {
        let challenge = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let peer = try ceremonies(algorithm, challenge: challenge)
        let publicKey = try XCTUnwrap(Base64URL.decode(peer.publicKey))
        let registrations = peer.cases.filter { $0.ceremony == "registration" }
        let assertions = peer.cases.filter { $0.ceremony == "assertion" }
        let valid = try XCTUnwrap(registrations.first { $0.name == "valid" })
        let registrationTable = try registrationExpectations(algorithm, peer, valid)
        XCTAssertEqual(Set(registrations.map(\.name)), Set(registrationTable.keys), "every registration case has an expectation")
        XCTAssertEqual(Set(assertions.map(\.name)), Set(Self.assertionExpectations.keys), "every assertion case has an expectation")

        for ceremony in registrations {
            let expectation = try XCTUnwrap(registrationTable[ceremony.name])
            let outcome = Result { () throws(WebAuthnError) in
                try relyingParty.verifyRegistration(
                    clientDataJSON: ceremony.clientDataJSON.decodedBase64URL, attestationObject: (ceremony.attestationObject ?? "").decodedBase64URL,
                    expectedChallenge: challenge, requireUserVerification: ceremony.requireUserVerification)
            }
            check(ceremony, outcome, expectation)
            guard case let .success(result) = outcome, ceremony.name == "valid" || ceremony.name == "backed-up" else { continue }
            XCTAssertEqual(result.credentialID, Base64URL.decode(peer.credentialId))
            XCTAssertEqual(result.publicKey, publicKey, "the COSE key is stored as fido2 encoded it")
            XCTAssertEqual(result.algorithm, coseAlgorithm)
            XCTAssertEqual(result.aaguid, [UInt8](repeating: 0, count: 16))
            XCTAssertTrue(result.userVerified)
            XCTAssertEqual(result.backupEligible, ceremony.name == "backed-up")
            XCTAssertEqual(result.backupState, ceremony.name == "backed-up")
        }

        for ceremony in assertions {
            let expectation = try XCTUnwrap(Self.assertionExpectations[ceremony.name])
            let outcome = Result { () throws(WebAuthnError) in
                try relyingParty.verifyAssertion(
                    clientDataJSON: ceremony.clientDataJSON.decodedBase64URL, authenticatorData: (ceremony.authenticatorData ?? "").decodedBase64URL,
                    signature: (ceremony.signature ?? "").decodedBase64URL, credentialPublicKey: publicKey,
                    storedSignCount: ceremony.storedSignCount, expectedChallenge: challenge,
                    requireUserVerification: ceremony.requireUserVerification)
            }
            check(ceremony, outcome, expectation)
            if case let .success(result) = outcome, ceremony.name == "valid" {
                XCTAssertEqual(result, AssertionResult(signCount: 8, userVerified: true, backupState: false))
            }
        }
    }

    private func check<T>(_ ceremony: Case, _ outcome: Result<T, WebAuthnError>, _ expectation: Expectation) {
        let label = "\(ceremony.ceremony) \(ceremony.name)"
        switch (outcome, expectation.ours) {
        case (.success, nil): break
        case let (.failure(error), expected?): XCTAssertEqual(error, expected, label)
        case let (.success, expected?): XCTFail("\(label): accepted, expected \(expected)")
        case let (.failure(error), nil): XCTFail("\(label): refused with \(error)")
        }
        XCTAssertEqual(ceremony.fido2.hasPrefix("refused"), expectation.fido2Refuses, "\(label): fido2 said \(ceremony.fido2)")
    }
}

extension String {
    /// Test data from the peer is base64url; a bad one is an empty array, which every check refuses.
    var decodedBase64URL: [UInt8] { Base64URL.decode(self) ?? [] }
}
