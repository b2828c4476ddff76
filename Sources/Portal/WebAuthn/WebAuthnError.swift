/// Why a registration or an assertion was refused: one case per check of WebAuthn §7.1 and §7.2, and per way the
/// bytes can be malformed. Every case means "do not sign this person in / do not store this passkey"; the
/// description says what happened in terms an operator can act on.
public enum WebAuthnError: Error, CustomStringConvertible, Equatable, Sendable {
    /// An input is larger than anything a browser sends (`what`, its size, the limit, in bytes).
    case limitExceeded(what: String, size: Int, limit: Int)
    /// clientDataJSON is not the JSON object a browser writes (not JSON, a member missing or of the wrong type).
    case malformedClientData(String)
    /// clientDataJSON's `type` is not the ceremony's ("webauthn.create" for registration, "webauthn.get" for sign-in).
    case wrongType(expected: String, received: String)
    /// clientDataJSON's challenge is not the one this server issued (or is not base64url).
    case challengeMismatch
    /// The page that ran the ceremony is not one of the relying party's origins.
    case originNotAllowed(String)
    /// The ceremony ran in a frame of another site (clientDataJSON `crossOrigin` is true).
    case crossOrigin
    /// The authenticator scoped the credential to another RP ID (authenticator data's rpIdHash).
    case rpIDHashMismatch
    /// The authenticator did not test that a person was present (UP flag clear).
    case userNotPresent
    /// User verification was required and the authenticator did not verify the person (UV flag clear).
    case userNotVerified
    /// Backup state set without backup eligibility: authenticator data no authenticator may produce.
    case inconsistentBackupFlags
    /// The authenticator data is too short, lacks attested credential data where it is required, or says more
    /// than its bytes hold.
    case malformedAuthenticatorData(String)
    /// CBOR that is not well formed, or uses what CTAP2 canonical CBOR never does (`structure` names the object;
    /// `offset` is the byte within it where decoding stopped).
    case malformedCBOR(structure: String, offset: Int, problem: CBORProblem)
    /// Bytes after the end of a structure that the specification says ends there.
    case trailingBytes(structure: String, offset: Int)
    /// The attestation object is not the map {fmt, authData, attStmt} of WebAuthn §6.5.
    case malformedAttestationObject(String)
    /// An attestation statement format this relying party does not know.
    case attestationFormatNotSupported(String)
    /// An attestation statement that does not fit its format ("none" must have an empty statement).
    case malformedAttestationStatement(String)
    /// A credential public key algorithm this relying party does not accept (COSE algorithm identifier).
    case unsupportedAlgorithm(Int64)
    /// A COSE_Key that is not a valid key of its algorithm (wrong key type or curve, bad lengths, point not on
    /// the curve, RSA modulus out of range).
    case malformedPublicKey(String)
    /// The assertion's signature does not verify with the credential's public key.
    case badSignature
    /// The signature counter did not increase: the credential may have been cloned (§6.1.1). The caller audits it.
    case signCountNotIncreased(stored: UInt32, received: UInt32)

    public var description: String {
        switch self {
        case let .limitExceeded(what, size, limit):
            return "the \(what) is \(size) bytes, over the limit of \(limit): no browser sends that; refused"
        case let .malformedClientData(why):
            return "clientDataJSON is malformed (\(why)): the browser's response was altered or is not a WebAuthn response"
        case let .wrongType(expected, received):
            return "clientDataJSON type is \"\(received)\", expected \"\(expected)\": a response of the other ceremony was sent"
        case .challengeMismatch:
            return "the challenge signed is not the one issued for this ceremony: a stale or replayed response; start again"
        case let .originNotAllowed(origin):
            return "the ceremony ran on \"\(origin)\", which is not one of this portal's origins (check the configured origins, or a phishing page)"
        case .crossOrigin:
            return "the ceremony ran in a cross-origin frame; the portal accepts passkeys only on its own pages"
        case .rpIDHashMismatch:
            return "the authenticator data is for another RP ID than this portal's (check the configured RP ID)"
        case .userNotPresent:
            return "the authenticator did not confirm a person was present (UP flag clear)"
        case .userNotVerified:
            return "user verification is required and the authenticator did not verify the person (UV flag clear)"
        case .inconsistentBackupFlags:
            return "the authenticator data says backed up (BS) but not backup eligible (BE): not a valid authenticator response"
        case let .malformedAuthenticatorData(why):
            return "the authenticator data is malformed: \(why)"
        case let .malformedCBOR(structure, offset, problem):
            return "the \(structure) is not valid CTAP2 CBOR at byte \(offset): \(problem)"
        case let .trailingBytes(structure, offset):
            return "the \(structure) has bytes after its end, from byte \(offset): refused rather than ignored"
        case let .malformedAttestationObject(why):
            return "the attestation object is malformed: \(why)"
        case let .attestationFormatNotSupported(format):
            return "attestation statement format \"\(format)\" is not a registered WebAuthn format; refused"
        case let .malformedAttestationStatement(why):
            return "the attestation statement is malformed: \(why)"
        case let .unsupportedAlgorithm(algorithm):
            return "credential algorithm \(algorithm) is not accepted (ES256 = -7 and RS256 = -257 are): use another authenticator"
        case let .malformedPublicKey(why):
            return "the credential public key is invalid: \(why)"
        case .badSignature:
            return "the assertion signature does not verify with the registered public key"
        case let .signCountNotIncreased(stored, received):
            return "the signature counter went from \(stored) to \(received) instead of increasing: the passkey may have been cloned; audit and consider revoking it"
        }
    }
}

/// What is wrong with CBOR input, for `WebAuthnError.malformedCBOR`.
public enum CBORProblem: Equatable, Sendable, CustomStringConvertible {
    /// The input ends inside an item.
    case truncated
    /// A string, array or map claims more than the input has left.
    case lengthExceedsInput(claimed: UInt64, remaining: Int)
    /// Indefinite-length strings, arrays and maps (CTAP2 canonical CBOR has none).
    case indefiniteLength
    /// A break code (0xFF) outside an indefinite-length item.
    case unexpectedBreak
    /// Additional information 28–30, reserved by RFC 8949.
    case reservedAdditionalInformation(UInt8)
    /// A tag (major type 6): WebAuthn structures carry none.
    case tag
    /// A floating-point number: WebAuthn structures carry none.
    case floatingPoint
    /// A simple value other than false, true, null, undefined.
    case unsupportedSimpleValue(UInt8)
    /// A text string that is not UTF-8.
    case invalidUTF8
    /// A map key that appears twice.
    case duplicateMapKey
    /// Arrays and maps nested deeper than the limit.
    case nestedTooDeep(limit: Int)
    /// More items in all than the limit.
    case tooManyItems(limit: Int)

    public var description: String {
        switch self {
        case .truncated: return "the input ends inside an item"
        case let .lengthExceedsInput(claimed, remaining): return "an item claims \(claimed) elements or bytes and only \(remaining) bytes remain"
        case .indefiniteLength: return "an indefinite-length item (CTAP2 canonical CBOR has none)"
        case .unexpectedBreak: return "a break code outside an indefinite-length item"
        case let .reservedAdditionalInformation(value): return "reserved additional information \(value)"
        case .tag: return "a tag (WebAuthn structures carry none)"
        case .floatingPoint: return "a floating-point number (WebAuthn structures carry none)"
        case let .unsupportedSimpleValue(value): return "simple value \(value)"
        case .invalidUTF8: return "a text string that is not UTF-8"
        case .duplicateMapKey: return "a map key that appears twice"
        case let .nestedTooDeep(limit): return "arrays and maps nested deeper than \(limit)"
        case let .tooManyItems(limit): return "more than \(limit) items"
        }
    }
}
