import Crypto
import _CryptoExtras

/// The credential public key algorithms the portal requests and accepts (IANA COSE Algorithms), in order of
/// preference.
public enum COSEAlgorithm: Int64, Sendable, CaseIterable, Codable {
    /// ECDSA with P-256 and SHA-256; signatures are ASN.1 DER (WebAuthn §6.5.6).
    case es256 = -7
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Windows Hello's TPM keys).
    case rs256 = -257
}

/// A credential public key from its COSE_Key (RFC 9052 §7, RFC 9053 §2.1 and §7.1; RFC 8230 for RSA), checked as
/// it is imported: key type matching the algorithm, curve, coordinate lengths, the point on the curve (Crypto's
/// import refuses others), an RSA modulus of 2048 to 4096 bits.
///
///     EC2: 1 (kty) = 2, 3 (alg) = -7, -1 (crv) = 1 (P-256), -2 (x) = 32 bytes, -3 (y) = 32 bytes
///     RSA: 1 (kty) = 3, 3 (alg) = -257, -1 (n) = modulus, -2 (e) = public exponent
enum COSEKey {
    case es256(P256.Signing.PublicKey)
    case rs256(_RSA.Signing.PublicKey)

    static let structure = "credential public key"
    /// Modulus bounds: below 2048 bits is refused as weak (NIST SP 800-131A); above 4096 only costs verification time.
    static let rsaBits = 2048...4096

    var algorithm: COSEAlgorithm {
        switch self {
        case .es256: return .es256
        case .rs256: return .rs256
        }
    }

    /// Imports the COSE_Key's bytes as stored at registration.
    init(bytes: [UInt8]) throws(WebAuthnError) {
        try self.init(CBORDecoder.decode(bytes, structure: Self.structure))
    }

    init(_ key: CBOR) throws(WebAuthnError) {
        guard case .map = key else { throw .malformedPublicKey("not a CBOR map") }
        guard let algorithmValue = key[CBOR(3)] else { throw .malformedPublicKey("no algorithm (label 3)") }
        guard let identifier = algorithmValue.integer else { throw .malformedPublicKey("the algorithm (label 3) is not an integer") }
        guard let algorithm = COSEAlgorithm(rawValue: identifier) else { throw .unsupportedAlgorithm(identifier) }
        let keyType = key[CBOR(1)]?.integer
        switch algorithm {
        case .es256:
            guard keyType == 2 else { throw .malformedPublicKey("ES256 needs key type EC2 (2), found \(Self.describe(key[CBOR(1)]))") }
            guard key[CBOR(-1)]?.integer == 1 else { throw .malformedPublicKey("ES256 needs curve P-256 (1), found \(Self.describe(key[CBOR(-1)]))") }
            guard case let .bytes(x)? = key[CBOR(-2)], x.count == 32, case let .bytes(y)? = key[CBOR(-3)], y.count == 32 else {
                throw .malformedPublicKey("P-256 coordinates x (-2) and y (-3) must be byte strings of 32 bytes")
            }
            do {
                self = .es256(try P256.Signing.PublicKey(x963Representation: [0x04] + x + y))
            } catch {
                throw .malformedPublicKey("the point (x, y) is not on P-256")
            }
        case .rs256:
            guard keyType == 3 else { throw .malformedPublicKey("RS256 needs key type RSA (3), found \(Self.describe(key[CBOR(1)]))") }
            guard case let .bytes(n)? = key[CBOR(-1)], case let .bytes(e)? = key[CBOR(-2)] else {
                throw .malformedPublicKey("RSA modulus n (-1) and exponent e (-2) must be byte strings")
            }
            let modulus = n.drop { $0 == 0 }, exponent = e.drop { $0 == 0 }
            let bits = modulus.first.map { modulus.count * 8 - $0.leadingZeroBitCount } ?? 0
            guard Self.rsaBits.contains(bits) else {
                throw .malformedPublicKey("an RSA modulus of \(bits) bits; \(Self.rsaBits.lowerBound) to \(Self.rsaBits.upperBound) are accepted")
            }
            // An odd exponent of 3 up to 2^32 - 1: what RSA keys use (65537 nearly always), and what BoringSSL verifies.
            guard (1...4).contains(exponent.count), let last = exponent.last, last & 1 == 1, exponent.count > 1 || last >= 3 else {
                throw .malformedPublicKey("an RSA public exponent that is not an odd number from 3 to 2^32 - 1")
            }
            do {
                self = .rs256(try _RSA.Signing.PublicKey(n: Array(modulus), e: Array(exponent)))
            } catch {
                throw .malformedPublicKey("the RSA key does not import (\(error))")
            }
        }
    }

    /// Whether `signature` is this key's signature of `message` (authenticatorData || SHA-256(clientDataJSON)).
    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        switch self {
        case let .es256(key):
            guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return key.isValidSignature(parsed, for: message)
        case let .rs256(key):
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: message, padding: .insecurePKCS1v1_5)
        }
    }

    private static func describe(_ value: CBOR?) -> String {
        guard let value else { return "none" }
        return value.integer.map(String.init) ?? "a non-integer"
    }
}
