import Foundation

/// One e-mail: RFC 5322 headers and a MIME body (text, or text and HTML as multipart/alternative).
public struct MailMessage: Sendable {
    public var from: MailAddress
    public var to: [MailAddress]
    public var replyTo: MailAddress?
    /// Any text: line breaks and other control characters become spaces when rendered.
    public var subject: String
    public var text: String
    public var html: String?
    public var date: Date
    /// "<random@from-domain>", made once so that a retried send carries the same ID (receivers drop duplicates).
    public let messageID: String

    public init(from: MailAddress, to: [MailAddress], subject: String, text: String, html: String? = nil,
                replyTo: MailAddress? = nil, date: Date = Date()) {
        self.from = from; self.to = to; self.subject = subject; self.text = text; self.html = html
        self.replyTo = replyTo; self.date = date
        messageID = "<\(MIMEEncoding.randomHex(16))@\(from.domain)>"
    }

    /// The message as sent after DATA (before dot-stuffing): CRLF line endings, 7-bit, no line over 998 octets.
    /// Header values come only from validated addresses, encoded-words and sanitised text, so nothing the
    /// caller passes can add a header or end the header block.
    public func rendered() -> [UInt8] {
        var out: [UInt8] = []
        out += MIMEEncoding.header("Date", [MIMEEncoding.date(date)])
        out += MIMEEncoding.header("From", MIMEEncoding.mailboxes([from]))
        if let replyTo { out += MIMEEncoding.header("Reply-To", MIMEEncoding.mailboxes([replyTo])) }
        out += MIMEEncoding.header("To", MIMEEncoding.mailboxes(to))
        out += MIMEEncoding.header("Subject", MIMEEncoding.unstructured(subject))
        out += MIMEEncoding.header("Message-ID", [messageID])
        // RFC 3834: a machine sent this, so out-of-office replies should not answer it.
        out += MIMEEncoding.header("Auto-Submitted", ["auto-generated"])
        out += MIMEEncoding.header("MIME-Version", ["1.0"])
        guard let html else {
            out += Self.partHeaders("text/plain") + MIMEEncoding.crlf
            return out + MIMEEncoding.quotedPrintable(text)
        }
        // "=_" cannot occur in quoted-printable output (a literal "=" is written =3D), so no body line can
        // be mistaken for the boundary.
        let boundary = "=_" + MIMEEncoding.randomHex(12)
        out += MIMEEncoding.header("Content-Type", ["multipart/alternative;", "boundary=\"\(boundary)\""])
        out += MIMEEncoding.crlf
        // The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1), not to the part's body.
        for (type, body) in [("text/plain", text), ("text/html", html)] {
            out += MIMEEncoding.crlf + Array("--\(boundary)".utf8) + MIMEEncoding.crlf
            out += Self.partHeaders(type) + MIMEEncoding.crlf
            out += MIMEEncoding.quotedPrintable(body)
        }
        return out + MIMEEncoding.crlf + Array("--\(boundary)--".utf8) + MIMEEncoding.crlf
    }

    private static func partHeaders(_ type: String) -> [UInt8] {
        MIMEEncoding.header("Content-Type", ["\(type);", "charset=utf-8"])
            + MIMEEncoding.header("Content-Transfer-Encoding", ["quoted-printable"])
    }
}
