import Crypto

/// This portal as a WebAuthn relying party: its RP ID (the registrable domain passkeys are scoped to), the name
/// authenticators show, and the exact origins (scheme://host[:port]) its pages are served from.
public struct RelyingParty: Sendable {
    public let id: String
    public let name: String
    public let origins: Set<String>

    public init(id: String, name: String, origins: Set<String>) {
        self.id = id
        self.name = name
        self.origins = origins
    }
}

/// A passkey accepted at registration: what the caller stores with the account.
public struct RegistrationResult: Sendable, Equatable {
    public let credentialID: [UInt8]
    /// The COSE_Key bytes as the authenticator sent them: pass them back as `credentialPublicKey` at sign-in.
    public let publicKey: [UInt8]
    public let algorithm: COSEAlgorithm
    public let signCount: UInt32
    public let userVerified: Bool
    public let backupEligible: Bool
    public let backupState: Bool
    /// The authenticator model's AAGUID as sent (all zero from most browsers): unattested, so informative only.
    public let aaguid: [UInt8]
}

/// A sign-in accepted: store `signCount` and `backupState` with the credential.
public struct AssertionResult: Sendable, Equatable {
    public let signCount: UInt32
    public let userVerified: Bool
    public let backupState: Bool
}

/// Upper bounds on the binary inputs, far above what authenticators send (a TPM attestation with its certificate
/// chain is about 5 KiB; an RSA-4096 signature 512 bytes).
enum InputLimits {
    static let attestationObject = 64 * 1024
    static let authenticatorData = 16 * 1024
    static let signature = 1024
    static let credentialPublicKey = 2048
}

extension RelyingParty {
    /// Registration (WebAuthn §7.1): checks the browser's response to `navigator.credentials.create()` against
    /// the challenge issued for it. The caller still refuses a credential ID that is already registered (step 26).
    public func verifyRegistration(clientDataJSON: [UInt8], attestationObject: [UInt8], expectedChallenge: [UInt8],
                                   requireUserVerification: Bool) throws(WebAuthnError) -> RegistrationResult {
        try ClientData.check(clientDataJSON, ceremony: .create, challenge: expectedChallenge, origins: origins)
        try Self.limit("attestation object", attestationObject, InputLimits.attestationObject)
        let attestation = try AttestationObject(attestationObject)
        let authenticatorData = try AuthenticatorData(attestation.authenticatorData)
        try checkFlagsAndRPID(authenticatorData, requireUserVerification: requireUserVerification)
        guard let credential = authenticatorData.attestedCredential else {
            throw .malformedAuthenticatorData("the AT flag is clear: a registration must carry the new credential")
        }
        // A key larger than sign-in accepts would register a passkey that can never be used.
        try Self.limit("credential public key", credential.publicKeyBytes, InputLimits.credentialPublicKey)
        let key = try COSEKey(credential.publicKey)
        try attestation.checkStatement()
        return RegistrationResult(
            credentialID: credential.credentialID, publicKey: credential.publicKeyBytes, algorithm: key.algorithm,
            signCount: authenticatorData.signCount, userVerified: authenticatorData.flags.contains(.userVerified),
            backupEligible: authenticatorData.flags.contains(.backupEligible), backupState: authenticatorData.flags.contains(.backupState),
            aaguid: credential.aaguid)
    }

    /// Authentication (WebAuthn §7.2): checks the browser's response to `navigator.credentials.get()` for the
    /// credential the caller looked up by its ID (and, for a discoverable credential, whose user handle matched).
    /// The counter check comes after the signature's, so only the authenticator itself can raise the clone alarm.
    public func verifyAssertion(clientDataJSON: [UInt8], authenticatorData: [UInt8], signature: [UInt8],
                                credentialPublicKey: [UInt8], storedSignCount: UInt32, expectedChallenge: [UInt8],
                                requireUserVerification: Bool) throws(WebAuthnError) -> AssertionResult {
        try ClientData.check(clientDataJSON, ceremony: .get, challenge: expectedChallenge, origins: origins)
        try Self.limit("authenticator data", authenticatorData, InputLimits.authenticatorData)
        try Self.limit("signature", signature, InputLimits.signature)
        try Self.limit("credential public key", credentialPublicKey, InputLimits.credentialPublicKey)
        let parsed = try AuthenticatorData(authenticatorData)
        try checkFlagsAndRPID(parsed, requireUserVerification: requireUserVerification)
        let key = try COSEKey(bytes: credentialPublicKey)
        guard key.isValidSignature(signature, for: authenticatorData + SHA256.hash(data: clientDataJSON)) else { throw .badSignature }
        // §6.1.1: when either counter is non-zero the new one must be greater; an authenticator without a counter
        // (synced passkeys) always sends 0.
        if parsed.signCount != 0 || storedSignCount != 0, parsed.signCount <= storedSignCount {
            throw .signCountNotIncreased(stored: storedSignCount, received: parsed.signCount)
        }
        return AssertionResult(signCount: parsed.signCount, userVerified: parsed.flags.contains(.userVerified),
                               backupState: parsed.flags.contains(.backupState))
    }

    /// §7.1 steps 13–17, §7.2 steps 15–18.
    private func checkFlagsAndRPID(_ data: AuthenticatorData, requireUserVerification: Bool) throws(WebAuthnError) {
        guard constantTimeEqual(data.rpIDHash, Array(SHA256.hash(data: Array(id.utf8)))) else { throw .rpIDHashMismatch }
        guard data.flags.contains(.userPresent) else { throw .userNotPresent }
        guard !requireUserVerification || data.flags.contains(.userVerified) else { throw .userNotVerified }
    }

    private static func limit(_ what: String, _ bytes: [UInt8], _ limit: Int) throws(WebAuthnError) {
        guard bytes.count <= limit else { throw .limitExceeded(what: what, size: bytes.count, limit: limit) }
    }
}
