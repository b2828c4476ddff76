import Crypto
import Foundation

/// Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), as authenticator apps compute them:
/// HMAC-SHA1 by default, 6 digits, 30-second steps.
public struct TOTP: Sendable, Equatable {
    public enum Algorithm: String, Sendable { case sha1 = "SHA1", sha256 = "SHA256", sha512 = "SHA512" }

    public let secret: [UInt8]
    public var digits = 6
    public var period: Double = 30
    public var algorithm = Algorithm.sha1

    public init(secret: [UInt8], digits: Int = 6, period: Double = 30, algorithm: Algorithm = .sha1) {
        self.secret = secret; self.digits = digits; self.period = period; self.algorithm = algorithm
    }

    /// A new random 160-bit secret (RFC 4226 §4 recommends 160 bits).
    public static func generate() -> TOTP {
        var generator = SystemRandomNumberGenerator()
        return TOTP(secret: (0..<20).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    public func step(at date: Date) -> UInt64 { UInt64(max(0, date.timeIntervalSince1970) / period) }

    /// RFC 4226 §5.3: HMAC of the 8-byte big-endian counter, dynamic truncation, modulo 10^digits.
    public func code(step: UInt64) -> String {
        let counter = withUnsafeBytes(of: step.bigEndian) { Array($0) }
        let mac: [UInt8]
        let key = SymmetricKey(data: secret)
        switch algorithm {
        case .sha1: mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: counter, using: key))
        case .sha256: mac = Array(HMAC<SHA256>.authenticationCode(for: counter, using: key))
        case .sha512: mac = Array(HMAC<SHA512>.authenticationCode(for: counter, using: key))
        }
        let offset = Int(mac[mac.count - 1] & 0x0F)
        let binary = UInt32(mac[offset] & 0x7F) << 24 | UInt32(mac[offset + 1]) << 16 | UInt32(mac[offset + 2]) << 8 | UInt32(mac[offset + 3])
        var modulus: UInt64 = 1
        for _ in 0..<min(digits, 10) { modulus *= 10 }   // the truncated value has 31 bits: 10 digits hold it all
        let value = String(UInt64(binary) % modulus)
        return String(repeating: "0", count: max(0, digits - value.count)) + value
    }

    public func code(at date: Date) -> String { code(step: step(at: date)) }

    /// The time step `code` is valid for, allowing `window` steps of clock drift either way; nil when
    /// it is not. Callers refuse a step already used (a code is good once).
    public func verify(_ code: String, at date: Date, window: UInt64 = 1) -> UInt64? {
        guard code.count == digits, code.allSatisfy(\.isASCII), code.allSatisfy(\.isNumber) else { return nil }
        let now = step(at: date)
        let candidates = (now > window ? now - window : 0)...(now + window)
        var found: UInt64?
        for candidate in candidates where constantTimeEqual(Array(self.code(step: candidate).utf8), Array(code.utf8)) {
            found = candidate
        }
        return found
    }

    /// `otpauth://` URI for enrolling an authenticator app (the Key Uri Format those apps read).
    public func provisioningURI(account: String, issuer: String) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let label = (issuer + ":" + account).addingPercentEncoding(withAllowedCharacters: allowed.union(CharacterSet(charactersIn: ":"))) ?? account
        let issuerParameter = issuer.addingPercentEncoding(withAllowedCharacters: allowed) ?? issuer
        return "otpauth://totp/\(label)?secret=\(Base32.encode(secret))&issuer=\(issuerParameter)&algorithm=\(algorithm.rawValue)&digits=\(digits)&period=\(Int(period))"
    }
}
