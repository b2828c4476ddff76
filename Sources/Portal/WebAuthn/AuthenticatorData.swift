/// The authenticator data (WebAuthn §6.1), parsed exactly:
///
///     rpIdHash (32) | flags (1) | signCount (4, big endian)
///     [attested credential data, if AT: aaguid (16) | credentialIdLength (2, big endian) | credentialId | COSE_Key]
///     [extensions, if ED: a CBOR map]
///
/// Nothing may follow: the signature covers these bytes, so bytes no parser reads would be signed but unseen.
struct AuthenticatorData: Sendable {
    struct Flags: OptionSet, Sendable {
        let rawValue: UInt8
        static let userPresent = Flags(rawValue: 0x01)
        static let userVerified = Flags(rawValue: 0x04)
        static let backupEligible = Flags(rawValue: 0x08)
        static let backupState = Flags(rawValue: 0x10)
        static let attestedCredentialData = Flags(rawValue: 0x40)
        static let extensionData = Flags(rawValue: 0x80)
    }

    struct AttestedCredential: Sendable {
        let aaguid: [UInt8]
        let credentialID: [UInt8]
        /// The COSE_Key's bytes as the authenticator encoded them (what the relying party stores).
        let publicKeyBytes: [UInt8]
        let publicKey: CBOR
    }

    /// WebAuthn §5.8.3 (credential ID) and §7.1: longer IDs are refused.
    static let maxCredentialIDLength = 1023
    static let structure = "authenticator data"

    let rpIDHash: [UInt8]
    let flags: Flags
    let signCount: UInt32
    let attestedCredential: AttestedCredential?

    init(_ bytes: [UInt8], limits: CBORLimits = CBORLimits()) throws(WebAuthnError) {
        guard bytes.count >= 37 else {
            throw .malformedAuthenticatorData("\(bytes.count) bytes, shorter than the 37 of rpIdHash, flags and signCount")
        }
        rpIDHash = Array(bytes[0..<32])
        flags = Flags(rawValue: bytes[32])
        signCount = bytes[33..<37].reduce(0) { $0 << 8 | UInt32($1) }
        var position = 37

        if flags.contains(.attestedCredentialData) {
            guard bytes.count - position >= 18 else {
                throw .malformedAuthenticatorData("the AT flag is set and the attested credential data is cut short at byte \(bytes.count)")
            }
            let aaguid = Array(bytes[position..<position + 16])
            let idLength = Int(bytes[position + 16]) << 8 | Int(bytes[position + 17])
            position += 18
            guard idLength <= Self.maxCredentialIDLength else {
                throw .malformedAuthenticatorData("credential ID of \(idLength) bytes, over WebAuthn's \(Self.maxCredentialIDLength)")
            }
            guard bytes.count - position >= idLength else {
                throw .malformedAuthenticatorData("credential ID of \(idLength) bytes and only \(bytes.count - position) remain")
            }
            let credentialID = Array(bytes[position..<position + idLength])
            position += idLength
            var decoder = CBORDecoder(bytes, from: position, structure: Self.structure, limits: limits)
            let key = try decoder.decodeItem()
            attestedCredential = AttestedCredential(aaguid: aaguid, credentialID: credentialID,
                                                    publicKeyBytes: Array(bytes[position..<decoder.position]), publicKey: key)
            position = decoder.position
        } else {
            attestedCredential = nil
        }

        if flags.contains(.extensionData) {
            var decoder = CBORDecoder(bytes, from: position, structure: Self.structure, limits: limits)
            let extensions = try decoder.decodeItem()
            // Extension outputs are parsed to find their end and otherwise ignored: the portal requests none.
            guard case .map = extensions else {
                throw .malformedAuthenticatorData("the extensions at byte \(position) are not a CBOR map")
            }
            position = decoder.position
        }

        guard position == bytes.count else { throw .trailingBytes(structure: Self.structure, offset: position) }
        guard flags.contains(.backupEligible) || !flags.contains(.backupState) else { throw .inconsistentBackupFlags }
    }
}
