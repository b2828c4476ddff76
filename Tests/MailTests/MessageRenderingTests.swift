import Foundation
@testable import Mail
import NIOCore
import XCTest

/// Addresses, the rendered message's bytes, and the parts of the protocol that need no relay.
final class MessageRenderingTests: XCTestCase {
    func testAddressValidation() throws {
        for good in ["a@b", "patient.name+tag@example.org", "x@xn--bcher-kva.example", "o'brien@sub-domain.example.co.uk"] {
            XCTAssertNoThrow(try MailAddress(good), good)
        }
        let bad = ["", "no-at", "two@@example.org", "a@b@c", "spa ce@example.org", "<a@example.org>", "a@example.org>",
                   "a\r@example.org", "a@exa\nmple.org", ".a@example.org", "a.@example.org", "a..b@example.org", "@example.org", "a@",
                   "a@-example.org", "a@example-.org", "a@example..org", "a@example.org.", "a@exa_mple.org", "müller@example.org",
                   "a@bücher.example", "a(b)@example.org", "a\"b@example.org", "a@[127.0.0.1]",
                   String(repeating: "a", count: 65) + "@example.org", "a@" + String(repeating: "b", count: 64) + ".org",
                   "a@" + Array(repeating: String(repeating: "b", count: 60), count: 5).joined(separator: ".")]
        for address in bad {
            XCTAssertThrowsError(try MailAddress(address), address)
        }
        XCTAssertThrowsError(try MailAddress("a@example.org", name: "line\u{2028}separator"))
        XCTAssertThrowsError(try MailAddress("a@example.org", name: String(repeating: "n", count: 201)))
    }

    func testRenderedLinesAreCRLFSevenBitAndShort() throws {
        var recipients: [MailAddress] = []
        for number in 0..<30 { recipients.append(try MailAddress("patient\(number)@example.org", name: "Patient \(number)")) }
        let message = MailMessage(from: try MailAddress("p@h.example", name: String(repeating: "Ünïcødé ", count: 20)), to: recipients,
                                  subject: String(repeating: "Ünïcødé", count: 200) + String(repeating: "x", count: 2000),
                                  text: String(repeating: "é", count: 5000) + "\r" + String(repeating: "=", count: 3000) + "\n\n",
                                  html: "<p>" + String(repeating: "\t", count: 400) + "</p>")
        let bytes = message.rendered()
        XCTAssertFalse(bytes.contains { $0 > 127 })
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(text.hasSuffix("\r\n"))
        let lines = text.components(separatedBy: "\r\n")
        XCTAssertFalse(lines.contains { $0.contains("\r") || $0.contains("\n") })
        XCTAssertLessThanOrEqual(lines.map(\.utf8.count).max() ?? 0, 78)
    }

    func testQuotedPrintable() {
        XCTAssertEqual(String(decoding: MIMEEncoding.quotedPrintable("a=b é \nend\t"), as: UTF8.self), "a=3Db =C3=A9=20\r\nend=09\r\n")
        // A soft break never splits an escape, and a line is at most 76 characters.
        let long = String(decoding: MIMEEncoding.quotedPrintable(String(repeating: "x", count: 74) + "éé"), as: UTF8.self)
        XCTAssertEqual(long, String(repeating: "x", count: 74) + "=\r\n=C3=A9=C3=A9\r\n")
        XCTAssertEqual(String(decoding: MIMEEncoding.quotedPrintable(""), as: UTF8.self), "\r\n")
    }

    func testDotStuffingAndBareLineBreaks() {
        var buffer = ByteBuffer()
        DotStuffing.encode(Array(".start\r\nmiddle\n.\r\n..two\rlast".utf8), into: &buffer)
        XCTAssertEqual(buffer.readString(length: buffer.readableBytes), "..start\r\nmiddle\r\n..\r\n...two\r\nlast\r\n.\r\n")
    }

    func testReplyParserBounds() throws {
        var parser = SMTPReplyParser()
        var buffer = ByteBuffer(string: "250-first\r\n250-AUTH PLAIN LOGIN\n250 last\r\n220 next")
        let reply = try XCTUnwrap(try parser.next(from: &buffer))
        XCTAssertEqual(reply, SMTPReply(code: 250, lines: ["first", "AUTH PLAIN LOGIN", "last"]))
        XCTAssertEqual(SMTPCapabilities(ehlo: reply).authenticationMechanisms, ["PLAIN", "LOGIN"])
        XCTAssertNil(try parser.next(from: &buffer))
        XCTAssertEqual(buffer.readableBytes, 8)

        func failure(_ text: String) -> String? {
            var parser = SMTPReplyParser(), buffer = ByteBuffer(string: text)
            do { _ = try parser.next(from: &buffer); return nil } catch { if case let .malformed(why) = error { return why }; return "\(error)" }
        }
        XCTAssertEqual(failure(String(repeating: "x", count: 513)), "a reply line longer than 512 octets")
        XCTAssertNil(failure("250 " + String(repeating: "x", count: 506) + "\r\n"))
        XCTAssertEqual(failure("250 " + String(repeating: "x", count: 507) + "\r\n"), "a reply line longer than 512 octets")
        XCTAssertEqual(failure(String(repeating: "250-x\r\n", count: 100) + "250 x\r\n"), "a reply of more than 100 lines")
        XCTAssertEqual(failure("250-x\r\n251 y\r\n"), "the lines of one reply carry different codes (250, 251)")
        XCTAssertEqual(failure("HTTP/1.1 400\r\n"), "\"HTTP/1.1 400\" does not start with a reply code 2xx–5xx")
        XCTAssertEqual(failure("250x\r\n"), "the reply code 250 is followed by neither a space nor a hyphen")
    }

    func testSettingsNeverShowThePassword() {
        let settings = SMTPSettings(host: "relay.hospital.example", security: .startTLS, heloName: "portal", username: "u", password: "hunter2")
        XCTAssertEqual(settings.port, 587)
        XCTAssertFalse("\(settings)".contains("hunter2"))
    }
}
