import Foundation
import WebAuthn

/// The browser's answer to a WebAuthn ceremony as both sites' pages post it: the `PublicKeyCredential` with its
/// binary fields in base64url (`rawId`, `response.clientDataJSON`, ...). A missing or non-canonical field is the
/// same refusal on both sites; the relying party checks what the bytes say.
public enum PasskeyAnswer {
    /// `navigator.credentials.get()`: which credential signed, and what it signed.
    public struct Assertion: Sendable {
        public let rawID: [UInt8]
        public let clientDataJSON: [UInt8]
        public let authenticatorData: [UInt8]
        public let signature: [UInt8]
    }

    /// `navigator.credentials.create()`: the new credential's client data and attestation object.
    public struct Registration: Sendable {
        public let clientDataJSON: [UInt8]
        public let attestationObject: [UInt8]
    }

    public static func assertion(_ body: [String: Any]) throws(APIError) -> Assertion {
        let response = body["response"] as? [String: Any] ?? [:]
        guard let rawID = field(body, "rawId"),
              let clientData = field(response, "clientDataJSON"),
              let authenticatorData = field(response, "authenticatorData"),
              let signature = field(response, "signature") else { throw incomplete }
        return Assertion(rawID: rawID, clientDataJSON: clientData, authenticatorData: authenticatorData, signature: signature)
    }

    public static func registration(_ body: [String: Any]) throws(APIError) -> Registration {
        let response = body["response"] as? [String: Any] ?? [:]
        guard let clientData = field(response, "clientDataJSON"),
              let attestation = field(response, "attestationObject") else { throw incomplete }
        return Registration(clientDataJSON: clientData, attestationObject: attestation)
    }

    static let incomplete = APIError.badRequest("The passkey answer is incomplete.")

    private static func field(_ object: [String: Any], _ key: String) -> [UInt8]? {
        (object[key] as? String).flatMap(Base64URL.decode)
    }
}

/// Both sites' checks of an answer against the challenge they issued. User verification is not required: the
/// password is the first factor, the passkey the second.
extension RelyingParty {
    /// A new challenge: 32 bytes from the system's random generator (WebAuthn asks for at least 16).
    public static func newChallenge() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    public func verify(_ answer: PasskeyAnswer.Registration, challenge: Data) throws(WebAuthnError) -> RegistrationResult {
        try verifyRegistration(clientDataJSON: answer.clientDataJSON, attestationObject: answer.attestationObject,
                               expectedChallenge: Array(challenge), requireUserVerification: false)
    }

    /// The assertion's result once it verifies with the registered key (`publicKey`, COSE) and its stored sign count.
    public func verify(_ answer: PasskeyAnswer.Assertion, publicKey: [UInt8], signCount: UInt32, challenge: Data) throws(WebAuthnError) -> AssertionResult {
        try verifyAssertion(clientDataJSON: answer.clientDataJSON, authenticatorData: answer.authenticatorData, signature: answer.signature,
                            credentialPublicKey: publicKey, storedSignCount: signCount, expectedChallenge: Array(challenge),
                            requireUserVerification: false)
    }
}
