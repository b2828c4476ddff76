import Foundation
import Mail
import TestSupport
import XCTest

/// Messages delivered to aiosmtpd, parsed back with Python's `email` package.
final class SMTPDeliveryTests: XCTestCase {
    private func message(html: String? = nil) throws -> MailMessage {
        let text = """
            Dear patient,

            \(String(repeating: "a long line without any break, ", count: 12))end.
            .a line that starts with a dot
            .
            ..two dots
            Grüße aus dem Krankenhaus — 病院 🏥
            trailing spaces   
            """
        return MailMessage(from: try MailAddress("portal@hospital.example", name: "Ünïcødé Portal"),
                           to: [try MailAddress("patient@example.org", name: "Müller, \"Hans\""), try MailAddress("second@example.org")],
                           subject: "Ünïcødé invitation: upload your discs — \(String(repeating: "long subject ", count: 10))",
                           text: text, html: html, replyTo: try MailAddress("help@hospital.example"))
    }

    /// The received message as the `email` package reads it (policy.default decodes encoded-words and
    /// quoted-printable), plus every physical line's length.
    private func parse(_ data: Data) throws -> [String: Any] {
        let (python, environment) = try TestSupport.pythonWith(["aiosmtpd"])
        let file = try TestSupport.TemporaryDirectory("mail-parse")
        try data.write(to: file.url.appendingPathComponent("m.eml"))
        let result = try TestSupport.run(python, ["-c", """
            import email, email.policy, json, sys
            raw = open(sys.argv[1], 'rb').read()
            m = email.message_from_bytes(raw, policy=email.policy.default)
            parts = [p for p in m.walk() if not p.is_multipart()]
            print(json.dumps({
                'subject': str(m['subject']), 'from': str(m['from']), 'to': str(m['to']), 'reply_to': str(m['reply-to']),
                'message_id': str(m['message-id']), 'date': str(m['date']), 'content_type': m.get_content_type(),
                'defects': [str(d) for d in m.defects] + [str(d) for p in parts for d in p.defects],
                'headers': list(m.keys()),
                'parts': [{'type': p.get_content_type(), 'cte': p['content-transfer-encoding'], 'body': p.get_content().replace('\\r\\n', '\\n')} for p in parts],
                'max_line': max(len(l) for l in raw.split(b'\\r\\n')),
                'bare_lf': raw.replace(b'\\r\\n', b'').count(b'\\n') + raw.replace(b'\\r\\n', b'').count(b'\\r'),
                'eight_bit': any(b > 127 for b in raw),
                'to_addresses': [a.addr_spec for a in m['to'].addresses], 'to_names': [a.display_name for a in m['to'].addresses],
            }))
            """, file.url.appendingPathComponent("m.eml").path], environment: environment)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
    }

    func testPlainDeliveryParsesBack() async throws {
        let peer = try SMTPPeer()
        defer { peer.stop() }
        let original = try message()
        let client = SMTPClient(settings: SMTPSettings(host: "127.0.0.1", port: peer.port, security: .none, heloName: "portal.hospital.example"))
        try await client.send(original)

        let received = peer.received
        XCTAssertEqual(received.count, 1, peer.log)
        let envelope = try XCTUnwrap(received.first?.envelope)
        XCTAssertEqual(envelope["mail_from"] as? String, "portal@hospital.example")
        XCTAssertEqual(envelope["rcpt_tos"] as? [String], ["patient@example.org", "second@example.org"])
        XCTAssertEqual(envelope["helo"] as? String, "portal.hospital.example")
        // aiosmtpd removed the transparency dots: what it kept is exactly what we rendered.
        XCTAssertEqual(try XCTUnwrap(received.first?.data), Data(original.rendered()))

        let parsed = try parse(try XCTUnwrap(received.first?.data))
        XCTAssertEqual(parsed["subject"] as? String, original.subject)
        XCTAssertEqual(parsed["from"] as? String, "Ünïcødé Portal <portal@hospital.example>")
        XCTAssertEqual(parsed["to_addresses"] as? [String], ["patient@example.org", "second@example.org"])
        XCTAssertEqual(parsed["to_names"] as? [String], ["Müller, \"Hans\"", ""])
        XCTAssertEqual(parsed["reply_to"] as? String, "help@hospital.example")
        XCTAssertEqual(parsed["message_id"] as? String, original.messageID)
        XCTAssertEqual(parsed["content_type"] as? String, "text/plain")
        XCTAssertEqual(parsed["defects"] as? [String], [])
        XCTAssertEqual(parsed["eight_bit"] as? Bool, false)
        XCTAssertEqual(parsed["bare_lf"] as? Int, 0)
        XCTAssertLessThanOrEqual(try XCTUnwrap(parsed["max_line"] as? Int), 78)
        let parts = try XCTUnwrap(parsed["parts"] as? [[String: Any]])
        XCTAssertEqual(parts.first?["cte"] as? String, "quoted-printable")
        // The text comes back whole: dots, trailing spaces, non-ASCII; line breaks as "\n", one at the end.
        XCTAssertEqual(parts.first?["body"] as? String, original.text + "\n")
    }

    func testMultipartAlternative() async throws {
        let peer = try SMTPPeer()
        defer { peer.stop() }
        let html = "<!doctype html>\n<p>Dear patient, <a href=\"https://portal.example/invite?t=abc=def\">upload</a> — Ünïcødé</p>\n.<p>dot</p>\n"
        let original = try message(html: html)
        let client = SMTPClient(settings: SMTPSettings(host: "127.0.0.1", port: peer.port, security: .none, heloName: "portal.hospital.example"))
        try await client.send(original)
        let data = try XCTUnwrap(peer.received.first?.data)
        let parsed = try parse(data)
        XCTAssertEqual(parsed["content_type"] as? String, "multipart/alternative")
        XCTAssertEqual(parsed["defects"] as? [String], [])
        let parts = try XCTUnwrap(parsed["parts"] as? [[String: Any]])
        XCTAssertEqual(parts.map { $0["type"] as? String }, ["text/plain", "text/html"])
        XCTAssertEqual(parts.last?["body"] as? String, html)
        XCTAssertEqual(parts.first?["body"] as? String, original.text + "\n")
    }

    func testHeaderInjectionIsNeutralised() async throws {
        // A display name with a line break is refused outright.
        XCTAssertThrowsError(try MailAddress("patient@example.org", name: "Eve\r\nBcc: victim@example.org")) { error in
            XCTAssertTrue("\(error)".contains("line break"), "\(error)")
        }
        XCTAssertThrowsError(try MailAddress("patient@example.org\r\nRCPT TO:<victim@example.org>"))
        // A subject with one becomes a single header line.
        let peer = try SMTPPeer()
        defer { peer.stop() }
        let message = MailMessage(from: try MailAddress("portal@hospital.example"), to: [try MailAddress("patient@example.org")],
                                  subject: "Hello\r\nBcc: victim@example.org\r\n\r\nbody", text: "text")
        let client = SMTPClient(settings: SMTPSettings(host: "127.0.0.1", port: peer.port, security: .none, heloName: "portal.hospital.example"))
        try await client.send(message)
        let parsed = try parse(try XCTUnwrap(peer.received.first?.data))
        XCTAssertEqual(parsed["headers"] as? [String], ["Date", "From", "To", "Subject", "Message-ID", "Auto-Submitted", "MIME-Version",
                                                       "Content-Type", "Content-Transfer-Encoding"])
        XCTAssertEqual(parsed["subject"] as? String, "Hello Bcc: victim@example.org body")
        XCTAssertEqual(peer.received.first?.envelope["rcpt_tos"] as? [String], ["patient@example.org"])
    }

    func testSTARTTLSWithTrustedCAAndAuthPlain() async throws {
        let certificates = try RelayCertificates()
        let peer = try SMTPPeer(["--tls", "starttls", "--user", "portal:s3cret pass"] + certificates.peerArguments)
        defer { peer.stop() }
        var settings = SMTPSettings(host: "127.0.0.1", port: peer.port, security: .startTLS, heloName: "portal.hospital.example",
                                    username: "portal", password: "s3cret pass", tls: .init(trustRoots: .caFile(certificates.ca)))
        try await SMTPClient(settings: settings).send(try message())
        XCTAssertEqual(peer.received.first?.envelope["tls"] as? Bool, true, peer.log)
        XCTAssertEqual(peer.received.first?.envelope["authenticated"] as? Bool, true)

        // The certificate's DNS name, when connecting by address.
        settings.tls.serverName = "localhost"
        try await SMTPClient(settings: settings).send(try message())
        XCTAssertEqual(peer.received.count, 2)
    }

    func testImplicitTLS() async throws {
        let certificates = try RelayCertificates()
        let peer = try SMTPPeer(["--tls", "implicit"] + certificates.peerArguments)
        defer { peer.stop() }
        let settings = SMTPSettings(host: "localhost", port: peer.port, security: .implicitTLS, heloName: "portal.hospital.example",
                                    tls: .init(trustRoots: .caFile(certificates.ca)))
        try await SMTPClient(settings: settings).send(try message())
        XCTAssertEqual(peer.received.first?.envelope["tls"] as? Bool, true, peer.log)
    }

    func testAuthOverPlainTextToLoopback() async throws {
        let peer = try SMTPPeer(["--user", "portal:secret", "--auth-without-tls"])
        defer { peer.stop() }
        let settings = SMTPSettings(host: "127.0.0.1", port: peer.port, security: .none, heloName: "portal.hospital.example",
                                    username: "portal", password: "secret")
        try await SMTPClient(settings: settings).send(try message())
        XCTAssertEqual(peer.received.first?.envelope["authenticated"] as? Bool, true, peer.log)
    }
}
