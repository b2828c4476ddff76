/// Entry names as stored: UTF-8 when general purpose bit 11 is set, IBM code page 437 otherwise
/// (APPNOTE appendix D). Names are split on `/` only; a backslash stays inside its component,
/// where `SiblingNames` refuses it, so `..\..\x` cannot climb on any system that reads it.
enum ZipNames {
    /// UTF-8 bytes of the name: kept as they are when flagged UTF-8 (invalid bytes are refused
    /// later by `SiblingNames`), decoded from CP437 otherwise.
    static func utf8(_ name: [UInt8], flaggedUTF8: Bool) -> [UInt8] {
        if flaggedUTF8 || name.allSatisfy({ $0 < 0x80 }) { return name }
        var text = ""
        for byte in name {
            text.unicodeScalars.append(byte < 0x80 ? Unicode.Scalar(byte) : cp437High[Int(byte - 0x80)])
        }
        return Array(text.utf8)
    }

    /// The components of a name (a trailing `/` marks a directory and adds none). A leading `/`
    /// gives an empty first component, which `SiblingNames` renames: absolute paths stay inside.
    static func components(_ name: [UInt8]) -> [[UInt8]] {
        var parts = name.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map(Array.init)
        if parts.count > 1, parts.last?.isEmpty == true { parts.removeLast() }
        return parts
    }

    /// Why a component `MediaPath` accepts is still hostile in an archive: a drive letter (`C:`)
    /// makes the rest of the name absolute to a Windows extractor.
    static func objection(to component: [UInt8], isFirst: Bool) -> String? {
        guard isFirst, component.count >= 2, component[1] == UInt8(ascii: ":"),
              (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(component[0] & 0xDF) else { return nil }
        return "drive letter"
    }

    private static let cp437High: [Unicode.Scalar] = Array(
        "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{00A0}"
            .unicodeScalars)
}
