/// The code printed on a receipt to find its import again. It is random, so it says nothing about
/// the patient, and short enough to read out over the phone.
public enum LookupCode {
    /// Crockford base32: no I, L, O, U, so nothing looks like a digit or spells words.
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    /// A random code that carries no patient data: 9 random Crockford base32 characters and a check
    /// character, formatted "XXXXX-XXXXX" (45 random bits).
    public static func generate() -> String {
        var random = SystemRandomNumberGenerator()
        let payload = (0..<9).map { _ in Int.random(in: 0..<32, using: &random) }
        return format(payload + [multiply(syndrome(payload), 2)])
    }

    /// Accepts lower case, missing or extra dashes/spaces, and Crockford's aliases (O→0, I/L→1);
    /// nil when malformed or the check fails. Returns the canonical "XXXXX-XXXXX" form.
    public static func normalize(_ text: String) -> String? {
        var values: [Int] = []
        for scalar in text.unicodeScalars {
            if scalar == "-" || scalar.properties.isWhitespace { continue }
            guard scalar.isASCII, values.count < 10 else { return nil }
            var character = Character(scalar.value >= 0x61 && scalar.value <= 0x7A ? Unicode.Scalar(scalar.value - 32)! : scalar)
            switch character {
            case "O": character = "0"
            case "I", "L": character = "1"
            default: break
            }
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            values.append(value)
        }
        guard values.count == 10, syndrome(values) == 0 else { return nil }
        return format(values)
    }

    private static func format(_ values: [Int]) -> String {
        let characters = values.map { alphabet[$0] }
        return String(characters[0..<5]) + "-" + String(characters[5...])
    }

    /// Σ vᵢ·α^(n-1-i) over GF(32) by Horner's rule; a valid code sums to 0. Every position has a
    /// distinct nonzero weight, so any single substitution and any adjacent transposition changes
    /// the sum (a plain weighted sum mod 32 cannot catch both: its weights would all need to be odd
    /// and so would their differences).
    private static func syndrome(_ values: [Int]) -> Int {
        values.reduce(0) { multiply($0, 2) ^ $1 }
    }

    /// Multiplication in GF(2⁵) modulo the primitive polynomial x⁵ + x² + 1.
    private static func multiply(_ a: Int, _ b: Int) -> Int {
        var a = a, b = b, product = 0
        while b > 0 {
            if b & 1 == 1 { product ^= a }
            b >>= 1
            a <<= 1
            if a & 0b10_0000 != 0 { a ^= 0b10_0101 }
        }
        return product
    }
}
