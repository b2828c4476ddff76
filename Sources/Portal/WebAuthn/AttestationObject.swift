/// The attestation object (WebAuthn §6.5.4): the CBOR map {"fmt": text, "authData": bytes, "attStmt": map}.
///
/// The portal requests attestation "none" and decides nothing from an authenticator's make or model, so it
/// verifies no attestation statement (§7.1 step 21 leaves that to relying parties that need it). Browsers may
/// still pass on the authenticator's own statement (§5.4.7: the client *may* replace it with "none"), so a
/// statement in any registered format is accepted as no attestation: its contents are not checked and the
/// registration is trusted exactly as a "none" one. A format that is not registered is refused.
struct AttestationObject {
    static let structure = "attestation object"
    /// The IANA "WebAuthn Attestation Statement Format Identifiers" registry.
    static let registeredFormats: Set<String> = ["none", "packed", "tpm", "android-key", "android-safetynet", "fido-u2f", "apple", "compound"]

    let format: String
    let authenticatorData: [UInt8]
    let statement: [CBOR.Entry]

    init(_ bytes: [UInt8]) throws(WebAuthnError) {
        let object = try CBORDecoder.decode(bytes, structure: Self.structure)
        guard case .map = object else { throw .malformedAttestationObject("not a CBOR map") }
        guard case let .text(format)? = object[.text("fmt")] else { throw .malformedAttestationObject("\"fmt\" is missing or not a text string") }
        guard case let .bytes(authenticatorData)? = object[.text("authData")] else {
            throw .malformedAttestationObject("\"authData\" is missing or not a byte string")
        }
        guard case let .map(statement)? = object[.text("attStmt")] else { throw .malformedAttestationObject("\"attStmt\" is missing or not a map") }
        self.format = format
        self.authenticatorData = authenticatorData
        self.statement = statement
    }

    /// §8.7: "none" has an empty statement; other registered formats are taken as unattested (see above).
    func checkStatement() throws(WebAuthnError) {
        guard Self.registeredFormats.contains(format) else { throw .attestationFormatNotSupported(format) }
        guard format != "none" || statement.isEmpty else {
            throw .malformedAttestationStatement("format \"none\" with a non-empty statement (\(statement.count) entries)")
        }
    }
}
