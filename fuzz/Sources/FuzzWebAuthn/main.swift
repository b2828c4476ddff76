import CFuzzerDriver
@testable import WebAuthn

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzWebAuthn_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// The relying party and challenge fuzz/make-seeds.py makes its ceremonies for, so seeds reach the signature check.
let relyingParty = RelyingParty(id: "portal.example.org", name: "Portal", origins: ["https://portal.example.org"])
let challenge = (0..<32).map(UInt8.init)

/// What a browser (or anyone posing as one) sends the portal's passkey endpoints. The first byte chooses:
/// 0 the CBOR decoder, 1 the authenticator data parser, 2 the COSE key import, 3 base64url,
/// 4 verifyRegistration (u16 length + clientDataJSON, then the attestation object),
/// 5 verifyAssertion (u16 length + clientDataJSON, u16 length + authenticatorData, u16 length + signature,
///   u32 stored counter, a byte whose low bit requires UV, then the COSE key).
/// Each refuses with a WebAuthnError or returns a result that holds what the checks promise.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    var input = Input(Array(UnsafeBufferPointer(start: data + 1, count: size - 1)))
    do {
        switch data[0] % 6 {
        case 0:
            let bytes = input.rest()
            let first = try CBORDecoder.decode(bytes, structure: "fuzz"), second = try CBORDecoder.decode(bytes, structure: "fuzz")
            precondition(first == second)
        case 1:
            let parsed = try AuthenticatorData(input.rest())
            if let credential = parsed.attestedCredential {
                precondition(credential.credentialID.count <= AuthenticatorData.maxCredentialIDLength && credential.aaguid.count == 16)
                let key = try CBORDecoder.decode(credential.publicKeyBytes, structure: "fuzz")
                precondition(key == credential.publicKey)
            }
            precondition(parsed.flags.contains(.backupEligible) || !parsed.flags.contains(.backupState))
        case 2:
            _ = try COSEKey(bytes: input.rest())
        case 3:
            let text = String(decoding: input.rest(), as: UTF8.self)
            if let bytes = Base64URL.decode(text) { precondition(Base64URL.encode(bytes) == text) }
            precondition(Base64URL.decode(Base64URL.encode(input.bytes)) == input.bytes)
        case 4:
            let clientData = input.field()
            let result = try relyingParty.verifyRegistration(clientDataJSON: clientData, attestationObject: input.rest(),
                                                             expectedChallenge: challenge, requireUserVerification: false)
            let key = try COSEKey(bytes: result.publicKey)
            precondition(key.algorithm == result.algorithm)
            precondition(result.credentialID.count <= AuthenticatorData.maxCredentialIDLength && (result.backupEligible || !result.backupState))
        default:
            let clientData = input.field(), authenticatorData = input.field(), signature = input.field()
            let stored = input.count(), requireUV = input.flag()
            let result = try relyingParty.verifyAssertion(
                clientDataJSON: clientData, authenticatorData: authenticatorData, signature: signature, credentialPublicKey: input.rest(),
                storedSignCount: stored, expectedChallenge: challenge, requireUserVerification: requireUV)
            precondition(result.signCount > stored || (result.signCount == 0 && stored == 0))
            precondition(result.userVerified || !requireUV)
        }
    } catch {
        precondition(!error.description.isEmpty)
    }
    return 0
}

/// Splits the fuzzer's bytes into fields; a field cut short is simply shorter.
struct Input {
    let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func take(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, position + count)
        defer { position = end }
        return Array(bytes[position..<end])
    }

    mutating func field() -> [UInt8] {
        let length = take(2).reduce(0) { $0 << 8 | Int($1) }
        return take(length)
    }

    mutating func count() -> UInt32 { take(4).reduce(0) { $0 << 8 | UInt32($1) } }

    mutating func flag() -> Bool { (take(1).first ?? 0) & 1 == 1 }

    mutating func rest() -> [UInt8] { take(bytes.count) }
}
