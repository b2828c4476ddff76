/// The options for `navigator.credentials.create()` in WebAuthn Level 3's JSON form
/// (PublicKeyCredentialCreationOptionsJSON): binary fields are base64url strings, which the browser's
/// `PublicKeyCredential.parseCreationOptionsFromJSON()` (or the page's own script) turns back into bytes.
public struct CreationOptions: Codable, Equatable, Sendable {
    public struct RelyingPartyEntity: Codable, Equatable, Sendable {
        public let id: String
        public let name: String
    }
    public struct UserEntity: Codable, Equatable, Sendable {
        /// The user handle, base64url: an opaque random ID, never an e-mail address or name (§14.6.1).
        public let id: String
        public let name: String
        public let displayName: String
    }
    public struct Parameters: Codable, Equatable, Sendable {
        public let type: String
        public let alg: Int64
    }
    public struct AuthenticatorSelection: Codable, Equatable, Sendable {
        public let residentKey: String
        public let requireResidentKey: Bool
        public let userVerification: String
    }

    public let rp: RelyingPartyEntity
    public let user: UserEntity
    public let challenge: String
    public let pubKeyCredParams: [Parameters]
    public let timeout: Int
    public let excludeCredentials: [CredentialDescriptor]
    public let authenticatorSelection: AuthenticatorSelection
    public let attestation: String
}

/// The options for `navigator.credentials.get()` (PublicKeyCredentialRequestOptionsJSON).
public struct RequestOptions: Codable, Equatable, Sendable {
    public let challenge: String
    public let timeout: Int
    public let rpId: String
    public let allowCredentials: [CredentialDescriptor]
    public let userVerification: String
}

/// A credential named in excludeCredentials or allowCredentials.
public struct CredentialDescriptor: Codable, Equatable, Sendable {
    public let type: String
    /// The credential ID, base64url.
    public let id: String

    public init(credentialID: [UInt8]) {
        type = "public-key"
        id = Base64URL.encode(credentialID)
    }
}

/// WebAuthn's UserVerificationRequirement, as sent in the options.
public enum UserVerification: String, Codable, Sendable {
    case required, preferred, discouraged
}

extension RelyingParty {
    /// Five minutes: WebAuthn's recommended range for a ceremony with user verification is 300–600 s.
    public static let defaultTimeoutMilliseconds = 300_000

    /// Options for registering a passkey: ES256 then RS256, a discoverable credential preferred, attestation
    /// "none", and the account's existing credentials excluded so one authenticator is not registered twice.
    public func creationOptions(challenge: [UInt8], userID: [UInt8], userName: String, displayName: String,
                                excluding: [[UInt8]] = [], userVerification: UserVerification = .preferred,
                                timeoutMilliseconds: Int = RelyingParty.defaultTimeoutMilliseconds) -> CreationOptions {
        CreationOptions(
            rp: .init(id: id, name: name),
            user: .init(id: Base64URL.encode(userID), name: userName, displayName: displayName),
            challenge: Base64URL.encode(challenge),
            pubKeyCredParams: COSEAlgorithm.allCases.map { .init(type: "public-key", alg: $0.rawValue) },
            timeout: timeoutMilliseconds,
            excludeCredentials: excluding.map(CredentialDescriptor.init(credentialID:)),
            authenticatorSelection: .init(residentKey: "preferred", requireResidentKey: false, userVerification: userVerification.rawValue),
            attestation: "none")
    }

    /// Options for signing in; an empty `allowing` lets the authenticator offer its discoverable credentials.
    public func requestOptions(challenge: [UInt8], allowing: [[UInt8]] = [], userVerification: UserVerification = .preferred,
                               timeoutMilliseconds: Int = RelyingParty.defaultTimeoutMilliseconds) -> RequestOptions {
        RequestOptions(challenge: Base64URL.encode(challenge), timeout: timeoutMilliseconds, rpId: id,
                       allowCredentials: allowing.map(CredentialDescriptor.init(credentialID:)), userVerification: userVerification.rawValue)
    }
}
