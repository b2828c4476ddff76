import Foundation
import Mail
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Each way a send fails, against real peers, with the sentence hospital IT reads.
final class SMTPFailureTests: XCTestCase {
    private func message(to recipients: [String] = ["patient@example.org"]) throws -> MailMessage {
        MailMessage(from: try MailAddress("portal@hospital.example"), to: try recipients.map { try MailAddress($0) },
                    subject: "Invitation", text: "Hello")
    }

    private func settings(_ port: Int, _ security: SMTPSettings.Security = .none) -> SMTPSettings {
        SMTPSettings(host: "127.0.0.1", port: port, security: security, heloName: "portal.hospital.example")
    }

    func testNothingListening() async throws {
        let port = TestSupport.freePort()
        let error = await sendResult(SMTPClient(settings: settings(port)), try message())
        guard case .connect? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue("\(error!)".contains("connection refused: nothing accepts connections at 127.0.0.1:\(port)"), "\(error!)")
        XCTAssertEqual(error?.isTransient, true)
    }

    func testRelayThatNeverGreets() async throws {
        // The kernel completes the TCP handshake for a listening socket nobody accepts on.
        let (descriptor, port) = TestSupport.loopbackSocket(SOCK_STREAM)
        defer { close(descriptor) }
        XCTAssertEqual(listen(descriptor, 4), 0)
        var settings = settings(port)
        settings.commandTimeout = .milliseconds(300)
        let error = await sendResult(SMTPClient(settings: settings), try message())
        guard case let .timeout(_, stage, _, whole)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(stage, .greeting)
        XCTAssertFalse(whole)
        XCTAssertTrue("\(error!)".contains("no answer from the SMTP relay 127.0.0.1:\(port) to the greeting (220) within 300 ms"), "\(error!)")

        // The whole operation's deadline wins when it is the shorter.
        settings.commandTimeout = .seconds(60)
        settings.totalTimeout = .milliseconds(300)
        let total = await sendResult(SMTPClient(settings: settings), try message())
        guard case .timeout(_, .greeting, _, true)? = total else { return XCTFail("\(String(describing: total))") }
    }

    func testUntrustedCertificate() async throws {
        let certificates = try RelayCertificates()
        let peer = try SMTPPeer(["--tls", "starttls"] + certificates.peerArguments)
        defer { peer.stop() }
        // The system's CAs did not sign the test CA.
        let error = await sendResult(SMTPClient(settings: settings(peer.port, .startTLS)), try message())
        guard case .tls? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue("\(error!)".contains("the certificate of 127.0.0.1:\(peer.port) is not trusted: it is not signed by a CA of this system's trust store"),
                      "\(error!)")
        XCTAssertEqual(peer.received.count, 0)
    }

    func testCertificateForAnotherName() async throws {
        // No IP address in the certificate: NIOSSL accepts a certificate whose IP addresses hold the peer's.
        let certificates = try RelayCertificates(subjectAltName: "DNS:relay.hospital.example")
        let peer = try SMTPPeer(["--tls", "implicit"] + certificates.peerArguments)
        defer { peer.stop() }
        var settings = settings(peer.port, .implicitTLS)
        settings.tls = .init(trustRoots: .caFile(certificates.ca), serverName: "mail.hospital.example")
        let error = await sendResult(SMTPClient(settings: settings), try message())
        guard case .tls? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue("\(error!)".contains("does not carry the name we connect to"), "\(error!)")

        settings.tls.serverName = "relay.hospital.example"
        try await SMTPClient(settings: settings).send(try message())
        XCTAssertEqual(peer.received.count, 1)
    }

    func testImplicitTLSAgainstAPlainRelay() async throws {
        let peer = try SMTPPeer()
        defer { peer.stop() }
        var settings = settings(peer.port, .implicitTLS)
        settings.commandTimeout = .seconds(5)
        let error = await sendResult(SMTPClient(settings: settings), try message())
        guard case .tls? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue("\(error!)".contains("does not speak TLS here"), "\(error!)")
    }

    func testSTARTTLSNotOffered() async throws {
        let peer = try SMTPPeer()
        defer { peer.stop() }
        let error = await sendResult(SMTPClient(settings: settings(peer.port, .startTLS)), try message())
        XCTAssertEqual(error, .startTLSNotOffered(server: "127.0.0.1:\(peer.port)"))
        XCTAssertTrue("\(error!)".contains("does not offer STARTTLS"), "\(error!)")
    }

    func testSTARTTLSInjectionIsRefused() async throws {
        let peer = try SMTPPeer(["--script", "inject"])
        defer { peer.stop() }
        let error = await sendResult(SMTPClient(settings: settings(peer.port, .startTLS)), try message())
        XCTAssertEqual(error, .startTLSInjection(server: "127.0.0.1:\(peer.port)"))
    }

    func testOverlongReplyLine() async throws {
        let peer = try SMTPPeer(["--script", "long-line"])
        defer { peer.stop() }
        let error = await sendResult(SMTPClient(settings: settings(peer.port)), try message())
        guard case .malformedReply(_, .greeting, let reason)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue(reason.contains("longer than 512 octets"), reason)
    }

    func testWrongPassword() async throws {
        let certificates = try RelayCertificates()
        let peer = try SMTPPeer(["--tls", "starttls", "--user", "portal:right"] + certificates.peerArguments)
        defer { peer.stop() }
        var settings = settings(peer.port, .startTLS)
        settings.tls.trustRoots = .caFile(certificates.ca)
        settings.username = "portal"
        settings.password = "wrong-password-123"
        let error = await sendResult(SMTPClient(settings: settings), try message())
        guard case let .authenticationRefused(_, reply)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(reply.code, 535)
        XCTAssertTrue("\(error!)".contains("refused the user name or password (535"), "\(error!)")
        XCTAssertFalse("\(error!)".contains("wrong-password-123"))
        XCTAssertFalse("\(settings)".contains("wrong-password-123"))
        XCTAssertEqual(peer.received.count, 0)
    }

    func testAuthLoginWhenPlainIsNotOffered() async throws {
        let peer = try SMTPPeer(["--user", "portal:right", "--auth-without-tls", "--login-only"])
        defer { peer.stop() }
        var settings = settings(peer.port)
        settings.username = "portal"
        settings.password = "right"
        try await SMTPClient(settings: settings).send(try message())
        XCTAssertEqual(peer.received.first?.envelope["authenticated"] as? Bool, true, peer.log)
        settings.password = "wrong"
        guard case .authenticationRefused(_, let reply)? = await sendResult(SMTPClient(settings: settings), try message()) else {
            return XCTFail("a wrong password was not refused")
        }
        XCTAssertEqual(reply.code, 535)
        // Without credentials, the relay's 530 says what is missing.
        settings.username = nil
        settings.password = nil
        let error = await sendResult(SMTPClient(settings: settings), try message())
        XCTAssertTrue("\(String(describing: error))".contains("requires authentication"), "\(String(describing: error))")
    }

    func testPasswordInClearTextToARemoteRelayIsRefused() async throws {
        var settings = SMTPSettings(host: "mail.hospital.example", security: .none, heloName: "portal.hospital.example",
                                    username: "portal", password: "secret")
        let error = await sendResult(SMTPClient(settings: settings), try message())
        guard case let .invalidSettings(why)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertTrue(why.contains("clear text"), why)
        XCTAssertFalse(why.contains("secret"))
        settings.host = "::1"
        settings.port = TestSupport.freePort()
        guard case .connect? = await sendResult(SMTPClient(settings: settings), try message()) else { return XCTFail("loopback AUTH refused") }
    }

    func testRecipientRefused() async throws {
        let peer = try SMTPPeer(["--refuse", "nobody@example.org"])
        defer { peer.stop() }
        let error = await sendResult(SMTPClient(settings: settings(peer.port)), try message(to: ["patient@example.org", "nobody@example.org"]))
        guard case let .recipientRefused(_, address, reply)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(address, "nobody@example.org")
        XCTAssertEqual(reply.code, 550)
        XCTAssertTrue("\(error!)".contains("refused the recipient <nobody@example.org> (550 5.1.1"), "\(error!)")
        XCTAssertEqual(error?.isTransient, false)
        XCTAssertEqual(peer.received.count, 0)
    }
}
