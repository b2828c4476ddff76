import NIOCore

/// What EHLO's reply offers (RFC 5321 §4.1.1.1): one keyword per line after the first, with its parameters.
struct SMTPCapabilities {
    private var keywords: [String: [String]] = [:]

    init(ehlo reply: SMTPReply) {
        for line in reply.lines.dropFirst() {
            // "AUTH=PLAIN LOGIN" is the form of relays from before RFC 4954.
            let words = line.split(whereSeparator: { $0 == " " || $0 == "=" }).map { $0.uppercased() }
            guard let keyword = words.first else { continue }
            keywords[keyword, default: []] += words.dropFirst()
        }
    }

    /// After HELO: nothing is offered.
    init() {}

    func offers(_ keyword: String) -> Bool { keywords[keyword] != nil }
    var authenticationMechanisms: [String] { keywords["AUTH"] ?? [] }
}

/// The message's bytes as sent after DATA (RFC 5321 §4.5.2): every line ends in CRLF (a bare CR or LF is
/// made one, so no "<LF>.<LF>" can end the data early on a lenient relay: SMTP smuggling), a line that
/// starts with "." gets another, and "." on a line of its own ends the data.
enum DotStuffing {
    static func encode(_ message: [UInt8], into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(message.count + message.count / 64 + 5)
        var atLineStart = true, previousWasCR = false
        for byte in message {
            if byte == 10 && previousWasCR { previousWasCR = false; continue }
            previousWasCR = byte == 13
            if byte == 13 || byte == 10 {
                buffer.writeBytes([13, 10])
                atLineStart = true
                continue
            }
            if atLineStart && byte == UInt8(ascii: ".") { buffer.writeInteger(UInt8(ascii: ".")) }
            buffer.writeInteger(byte)
            atLineStart = false
        }
        if !atLineStart { buffer.writeBytes([13, 10]) }
        buffer.writeString(".\r\n")
    }
}
