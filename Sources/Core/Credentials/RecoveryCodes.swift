import Crypto

/// Single-use codes a patient prints or writes down, to sign in when the second factor is lost.
/// Ten characters from Crockford's base32 alphabet (digits and lower-case letters without i, l, o
/// and u, so nothing reads as something else), 50 bits each, shown in two groups: "k7tm9-qx2hp".
///
/// Stored as SHA-256 digests, not with a slow hash: 50 random bits are beyond guessing from a digest
/// (unlike a password, there is no likely candidate to try first), and sign-in attempts are limited.
public enum RecoveryCodes {
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
    public static let length = 10
    public static let groupLength = 5

    /// `count` distinct new codes, formatted for reading.
    public static func generate(count: Int = 10) -> [String] {
        var generator = SystemRandomNumberGenerator()
        var codes: [String] = []
        while codes.count < count {
            let symbols = (0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
            let code = String(decoding: symbols[..<groupLength], as: UTF8.self) + "-"
                + String(decoding: symbols[groupLength...], as: UTF8.self)
            if !codes.contains(code) { codes.append(code) }
        }
        return codes
    }

    /// The code as typed, reduced to its ten symbols: case, spaces and dashes ignored, and the letters
    /// Crockford's alphabet leaves out read as what they look like (o as 0, i and l as 1). nil when it
    /// is not a code.
    public static func normalize(_ typed: String) -> String? {
        guard typed.utf8.count <= 4 * length else { return nil }
        var symbols: [UInt8] = []
        for byte in typed.lowercased().utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "\t"): continue
            case UInt8(ascii: "o"): symbols.append(UInt8(ascii: "0"))
            case UInt8(ascii: "i"), UInt8(ascii: "l"): symbols.append(UInt8(ascii: "1"))
            case _ where alphabet.contains(byte): symbols.append(byte)
            default: return nil
            }
        }
        guard symbols.count == length else { return nil }
        return String(decoding: symbols, as: UTF8.self)
    }

    /// What to store for a code: SHA-256 of its normalised form. nil when `code` is not a code.
    public static func digest(_ code: String) -> [UInt8]? {
        normalize(code).map { Array(SHA256.hash(data: Array($0.utf8))) }
    }

    /// The index in `digests` of the one `typed` matches, or nil. Compares with every stored digest
    /// without stopping at a match, so the time taken does not say which one (or whether one) matched.
    public static func match(_ typed: String, among digests: [[UInt8]]) -> Int? {
        guard let presented = digest(typed) else { return nil }
        var found: Int?
        for (index, stored) in digests.enumerated() where constantTimeEqual(presented, stored) {
            found = index
        }
        return found
    }
}
