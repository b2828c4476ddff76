import Credentials

extension SealingKey.Name {
    /// `console.key` under the console's state directory: it seals members' TOTP secrets and derives the WebAuthn
    /// user handles from member ids.
    public static let console = SealingKey.Name(owner: "the console's key", losing: "every member's authenticator app unusable")
}
