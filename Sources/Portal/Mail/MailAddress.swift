/// An e-mail address we can put both in the SMTP envelope (`MAIL FROM:<…>`, `RCPT TO:<…>`) and in a header:
/// a dot-atom local part (RFC 5322 §3.4.1; no quoted local parts, no SMTPUTF8) and a domain of LDH labels
/// (RFC 5321 §4.1.2; an internationalised domain in its xn-- form). Whatever passes cannot break out of a command
/// line or a header. The display name may hold any Unicode but no control character.
public struct MailAddress: Sendable, Hashable, CustomStringConvertible {
    public let address: String
    public let name: String?

    /// RFC 5321 §4.5.3.1: a path is at most 256 octets with its angle brackets, a local part at most 64.
    static let maximumLength = 254
    static let maximumLocalPartLength = 64
    /// A bound on what the portal puts in a header; real names are far shorter.
    static let maximumNameLength = 200

    public init(_ address: String, name: String? = nil) throws(MailError) {
        try Self.validate(address)
        if let name {
            if let bad = name.unicodeScalars.first(where: Self.isForbiddenInName) {
                throw .invalidAddress(address, reason: "its display name contains the control character U+\(String(bad.value, radix: 16, uppercase: true)) (a line break would let it write its own header lines)")
            }
            guard name.unicodeScalars.count <= Self.maximumNameLength else {
                throw .invalidAddress(address, reason: "its display name is longer than \(Self.maximumNameLength) characters")
            }
        }
        self.address = address
        self.name = name.flatMap { $0.allSatisfy(\.isWhitespace) ? nil : $0 }
    }

    /// The part after "@".
    public var domain: String { String(address[address.index(after: address.lastIndex(of: "@") ?? address.startIndex)...]) }

    public var description: String { name.map { "\($0) <\(address)>" } ?? address }

    /// Control characters, and the Unicode line and paragraph separators some programs treat as line breaks.
    static func isForbiddenInName(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}"
    }

    private static func validate(_ address: String) throws(MailError) {
        func refuse(_ reason: String) -> MailError { .invalidAddress(address, reason: reason) }
        let bytes = Array(address.utf8)
        guard !bytes.isEmpty else { throw refuse("it is empty") }
        guard bytes.count <= maximumLength else { throw refuse("it is longer than \(maximumLength) characters") }
        if bytes.contains(where: { $0 == 13 || $0 == 10 }) { throw refuse("it contains a line break") }
        if bytes.contains(where: { $0 >= 0x80 }) {
            throw refuse("it contains non-ASCII characters (write an international domain in its xn-- form; international local parts are not supported)")
        }
        if bytes.contains(where: { $0 <= 32 || $0 == 127 }) { throw refuse("it contains a space or a control character") }
        let ats = bytes.indices.filter { bytes[$0] == UInt8(ascii: "@") }
        guard ats.count == 1, let at = ats.first else { throw refuse("it must contain exactly one @") }
        let local = bytes[..<at], domain = bytes[(at + 1)...]
        guard !local.isEmpty else { throw refuse("nothing before the @") }
        guard local.count <= maximumLocalPartLength else { throw refuse("the part before the @ is longer than \(maximumLocalPartLength) characters") }
        if let bad = local.first(where: { !isAtext($0) && $0 != UInt8(ascii: ".") }) {
            throw refuse("the character \"\(Character(Unicode.Scalar(bad)))\" is not allowed before the @")
        }
        if local.first == UInt8(ascii: ".") || local.last == UInt8(ascii: ".") || hasDoubleDot(local) {
            throw refuse("the part before the @ starts or ends with a dot, or has two dots in a row")
        }
        guard !domain.isEmpty else { throw refuse("nothing after the @") }
        for label in domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !label.isEmpty else { throw refuse("the domain has an empty label (two dots in a row, or a dot at an end)") }
            guard label.count <= 63 else { throw refuse("a domain label is longer than 63 characters") }
            guard label.allSatisfy({ isLetterOrDigit($0) || $0 == UInt8(ascii: "-") }) else {
                throw refuse("the domain may hold only letters, digits, hyphens and dots")
            }
            if label.first == UInt8(ascii: "-") || label.last == UInt8(ascii: "-") { throw refuse("a domain label starts or ends with a hyphen") }
        }
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    /// RFC 5322 atext: letters, digits and !#$%&'*+-/=?^_`{|}~ (no specials, so no < > ( ) [ ] \ , ; : " @).
    private static func isAtext(_ byte: UInt8) -> Bool {
        isLetterOrDigit(byte) || "!#$%&'*+-/=?^_`{|}~".utf8.contains(byte)
    }

    private static func hasDoubleDot(_ bytes: ArraySlice<UInt8>) -> Bool {
        zip(bytes, bytes.dropFirst()).contains { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") }
    }
}
