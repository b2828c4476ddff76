import NIOCore

/// Why a connection to the relay ended before the answer we waited for (the client names the stage).
enum SMTPConnectionFailure: Error {
    case timeout(whole: Bool)
    case malformed(String)
    /// A reply to no command of ours.
    case unsolicited(SMTPReply)
    /// Bytes after the 220 answer to STARTTLS, before the handshake.
    case injection
    case closed
    case tls(TLSFailure)
    case network(any Error)
}

/// Replies (RFC 5321 §4.2) out of the bytes received so far:
///
///     Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF
///
/// Bounded before anything is kept: a line over 512 octets (§4.5.3.1.5, CRLF included) or a reply over 100
/// lines is refused. A bare LF ends a line too (some relays send it); a lone CR stays in the text.
struct SMTPReplyParser {
    static let maximumLineLength = 512
    static let maximumLines = 100

    private var code: Int?
    private var lines: [String] = []

    /// The next whole reply, taking its lines off `buffer`; nil when its last line has not arrived yet.
    mutating func next(from buffer: inout ByteBuffer) throws(SMTPConnectionFailure) -> SMTPReply? {
        while true {
            let view = buffer.readableBytesView
            guard let newline = view.firstIndex(of: 10) else {
                if view.count > Self.maximumLineLength { throw .malformed("a reply line longer than \(Self.maximumLineLength) octets") }
                return nil
            }
            let length = newline - view.startIndex + 1
            guard length <= Self.maximumLineLength else { throw .malformed("a reply line longer than \(Self.maximumLineLength) octets") }
            var line = Array(view[view.startIndex..<newline])
            buffer.moveReaderIndex(forwardBy: length)
            if line.last == 13 { line.removeLast() }
            if let reply = try take(line) { return reply }
        }
    }

    private mutating func take(_ line: [UInt8]) throws(SMTPConnectionFailure) -> SMTPReply? {
        let digits = line.prefix(3)
        guard digits.count == 3, digits.allSatisfy({ (48...57).contains($0) }), (UInt8(ascii: "2")...UInt8(ascii: "5")).contains(digits[0]) else {
            throw .malformed("\"\(Printable.text(String(decoding: line.prefix(80), as: UTF8.self)))\" does not start with a reply code 2xx–5xx")
        }
        let lineCode = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
        let separator = line.count > 3 ? line[3] : UInt8(ascii: " ")
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
            throw .malformed("the reply code \(lineCode) is followed by neither a space nor a hyphen")
        }
        if let code, code != lineCode { throw .malformed("the lines of one reply carry different codes (\(code), \(lineCode))") }
        code = lineCode
        lines.append(String(decoding: line.dropFirst(4), as: UTF8.self))
        guard lines.count <= Self.maximumLines else { throw .malformed("a reply of more than \(Self.maximumLines) lines") }
        guard separator == UInt8(ascii: " ") else { return nil }
        defer { code = nil; lines = [] }
        return SMTPReply(code: lineCode, lines: lines)
    }
}
