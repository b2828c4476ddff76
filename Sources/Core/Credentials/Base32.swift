/// RFC 4648 base32, the encoding authenticator apps take secrets in.
public enum Base32 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// Unpadded, as otpauth URIs carry it.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int(buffer >> UInt32(bits - 5) & 0x1F)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int(buffer << UInt32(5 - bits) & 0x1F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Case-insensitive; spaces and padding ignored (people type secrets in groups). nil for any other
    /// character, and for a length no byte string encodes to (1, 3 or 6 characters past a multiple of 8):
    /// a secret cut short when it was copied.
    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        var characters = 0
        for character in text.utf8 where character != 0x20 && character != 0x3D {
            let upper = (0x61...0x7A).contains(character) ? character - 0x20 : character
            guard let value = alphabet.firstIndex(of: upper) else { return nil }
            characters += 1
            buffer = buffer << 5 | UInt32(value)
            bits += 5
            if bits >= 8 {
                out.append(UInt8(buffer >> UInt32(bits - 8) & 0xFF))
                bits -= 8
            }
        }
        guard ![1, 3, 6].contains(characters % 8) else { return nil }
        return out
    }
}
