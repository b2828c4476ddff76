import Crypto

/// A 128-bit random token for a link sent by e-mail (an invitation, a password reset): unguessable,
/// single-use. The link carries `text` (22 characters of base64url, no padding); the server keeps
/// only `digest` (SHA-256 of the 16 bytes), so its database alone does not give the link away. Like
/// recovery codes, 128 random bits need no slow hash.
public struct OneTimeToken: Sendable, Hashable {
    public let bytes: [UInt8]

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// A new random token.
    public static func generate() -> OneTimeToken {
        var generator = SystemRandomNumberGenerator()
        return OneTimeToken(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    /// The token as presented in a link. nil unless it is exactly 22 base64url characters in the form
    /// `text` gives (the last character carries 2 bits; the 4 unused ones must be zero, so each token
    /// has one spelling).
    public init?(parsing text: String) {
        let characters = Array(text.utf8)
        guard characters.count == 22 else { return nil }
        var buffer: UInt32 = 0
        var bits = 0
        var bytes: [UInt8] = []
        for character in characters {
            guard let value = OneTimeToken.alphabet.firstIndex(of: character) else { return nil }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bytes.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits - 8)))
                bits -= 8
            }
        }
        guard buffer & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        self.bytes = bytes
    }

    /// base64url without padding, 22 characters.
    public var text: String {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 6 {
                out.append(OneTimeToken.alphabet[Int(buffer >> UInt32(bits - 6) & 0x3F)])
                bits -= 6
            }
        }
        if bits > 0 { out.append(OneTimeToken.alphabet[Int(buffer << UInt32(6 - bits) & 0x3F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// What the server stores and looks the token up by.
    public var digest: [UInt8] { Array(SHA256.hash(data: bytes)) }
}
