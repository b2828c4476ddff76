/// Names in FAT directory entries: 8.3 short names in the OEM code page (CP437 assumed) and long
/// file names in UTF-16 spread over LFN entries (Microsoft FAT specification §6, §7).
enum FATNames {
    /// CP437 0x80–0xFF.
    static let cp437: [Unicode.Scalar] = Array(
        "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{A0}".unicodeScalars)

    static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(byte < 0x80 ? Unicode.Scalar(byte) : cp437[Int(byte) - 0x80]) }
        return String(scalars)
    }

    /// "NAME    EXT" → "NAME.EXT", honouring the NT lower-case flags (0x08 base, 0x10 extension).
    static func shortName(_ raw: [UInt8], flags: UInt8, label: Bool = false) -> String {
        var bytes = raw
        if bytes[0] == 0x05 { bytes[0] = 0xE5 }  // 0x05 stands for a leading 0xE5 (a KANJI lead byte)
        func trimmed(_ part: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            var part = part
            while part.last == 0x20 { part.removeLast() }
            return part
        }
        if label { return decode(trimmed(bytes[0..<11])) }
        var base = decode(trimmed(bytes[0..<8]))
        var ext = decode(trimmed(bytes[8..<11]))
        if flags & 0x08 != 0 { base = base.lowercased() }
        if flags & 0x10 != 0 { ext = ext.lowercased() }
        return ext.isEmpty ? base : base + "." + ext
    }

    /// The checksum of an 8.3 name that each of its LFN entries carries.
    static func checksum(_ raw: ArraySlice<UInt8>) -> UInt8 {
        var sum: UInt8 = 0
        for byte in raw { sum = ((sum & 1) << 7) &+ (sum >> 1) &+ byte }
        return sum
    }

    /// The 13 UTF-16 code units of one LFN entry (bytes 1–10, 14–25, 28–31).
    static func lfnUnits(_ entry: ArraySlice<UInt8>) -> [UInt16] {
        let base = entry.startIndex
        var units: [UInt16] = []
        for range in [1..<11, 14..<26, 28..<32] {
            var i = range.lowerBound
            while i < range.upperBound {
                units.append(UInt16(entry[base + i]) | UInt16(entry[base + i + 1]) << 8)
                i += 2
            }
        }
        return units
    }
}
