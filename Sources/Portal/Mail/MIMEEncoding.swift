import Foundation

/// The 7-bit encodings a message is written in, so that it passes any relay (no 8BITMIME, no SMTPUTF8 needed)
/// and no line exceeds RFC 5322's 998 octets.
enum MIMEEncoding {
    static let crlf: [UInt8] = [13, 10]

    /// Quoted-printable (RFC 2045 §6.7) of UTF-8 text: every line break of the text (CRLF, CR or LF) becomes a
    /// CRLF; bytes outside printable ASCII, "=", and a space or tab at a line's end become =XX; lines longer than
    /// 76 characters are cut with soft breaks ("=" at the end). The result ends with CRLF.
    static func quotedPrintable(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for line in lines(of: text) {
            var length = 0
            for (index, byte) in line.enumerated() {
                let isLast = index == line.count - 1
                let literal = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "=")) || ((byte == 32 || byte == 9) && !isLast)
                let token = literal ? [byte] : escaped(byte)
                // A soft break's "=" takes the 76th column, except after the line's last token.
                if length + token.count > (isLast ? 76 : 75) {
                    out += [UInt8(ascii: "=")] + crlf
                    length = 0
                }
                out += token
                length += token.count
            }
            out += crlf
        }
        return out
    }

    /// The text's lines as UTF-8, split at CRLF, CR or LF; a final line break ends the last line rather than
    /// starting an empty one.
    static func lines(of text: String) -> [[UInt8]] {
        var lines: [[UInt8]] = [], current: [UInt8] = []
        var previousWasCR = false
        for byte in text.utf8 {
            if byte == 10 && previousWasCR { previousWasCR = false; continue }
            previousWasCR = byte == 13
            if byte == 10 || byte == 13 {
                lines.append(current)
                current = []
            } else {
                current.append(byte)
            }
        }
        if !current.isEmpty || lines.isEmpty { lines.append(current) }
        return lines
    }

    private static func escaped(_ byte: UInt8) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        return [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
    }

    /// RFC 2047 "B" encoded-words for `text`, each at most 64 characters (39 UTF-8 octets), split between
    /// Unicode scalars so that every word decodes on its own.
    static func encodedWords(_ text: String) -> [String] {
        var words: [String] = [], chunk: [UInt8] = []
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > 39 {
                words.append(encodedWord(chunk))
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append(encodedWord(chunk)) }
        return words
    }

    private static func encodedWord(_ bytes: [UInt8]) -> String {
        "=?utf-8?b?" + base64(bytes) + "?="
    }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// An unstructured header value (Subject) as tokens: control characters (CR and LF above all) become spaces so
    /// that the value cannot end its header; plain ASCII stays readable, anything else is encoded-words.
    static func unstructured(_ value: String) -> [String] {
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: value.unicodeScalars.map { MailAddress.isForbiddenInName($0) ? " " : $0 })
        let cleaned = String(scalars)
        let words = cleaned.split(separator: " ").map(String.init)
        // An ASCII word that looks like an encoded-word ("=?") would be decoded by readers: encode it instead.
        let plain = cleaned.unicodeScalars.allSatisfy { $0.isASCII } && !cleaned.contains("=?") && words.allSatisfy { $0.utf8.count <= 70 }
        return plain ? words : encodedWords(cleaned)
    }

    /// A display name as a phrase (RFC 5322 §3.2.5): a quoted string when it is ASCII, else encoded-words.
    static func phrase(_ name: String) -> [String] {
        guard name.unicodeScalars.allSatisfy({ $0.isASCII }), !name.contains("=?") else { return encodedWords(name) }
        var quoted = "\""
        for character in name {
            if character == "\"" || character == "\\" { quoted.append("\\") }
            quoted.append(character)
        }
        return [quoted + "\""]
    }

    /// Mailboxes for From, To, Reply-To, separated by commas.
    static func mailboxes(_ addresses: [MailAddress]) -> [String] {
        var tokens: [String] = []
        for (index, address) in addresses.enumerated() {
            var mailbox = address.name.map(phrase) ?? []
            mailbox.append(address.name == nil ? address.address : "<\(address.address)>")
            if index < addresses.count - 1 { mailbox[mailbox.count - 1] += "," }
            tokens += mailbox
        }
        return tokens
    }

    /// "Name: token token…" folded (CRLF SP between tokens) before a line passes 78 characters. Tokens are at
    /// most a few hundred characters, so no line comes near 998.
    static func header(_ name: String, _ tokens: [String]) -> [UInt8] {
        var out = Array("\(name):".utf8)
        var length = out.count
        for token in tokens {
            let bytes = Array(token.utf8)
            if length + 1 + bytes.count > 78 && length > name.utf8.count + 1 {
                out += crlf
                length = 0
            }
            out.append(32)
            out += bytes
            length += 1 + bytes.count
        }
        return out + crlf
    }

    /// RFC 5322 §3.3 date-time in UTC: "Tue, 02 Dec 2025 09:05:00 +0000".
    static func date(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down)), parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday) % 7]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon) % 12]) \(Int(parts.tm_year) + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }

    /// `count` random bytes in lowercase hex, for Message-IDs and MIME boundaries.
    static func randomHex(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<count).flatMap { _ -> [Character] in
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            return [digits[Int(byte >> 4)], digits[Int(byte & 15)]]
        })
    }
}
