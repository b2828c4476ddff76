import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Sends messages through one SMTP relay (RFC 5321), one connection per message: EHLO (HELO only without
/// TLS), STARTTLS or implicit TLS, AUTH PLAIN or LOGIN, MAIL FROM, RCPT TO, DATA, QUIT. The message is 7-bit
/// (quoted-printable), so no extension beyond STARTTLS and AUTH is needed.
public struct SMTPClient: Sendable {
    public let settings: SMTPSettings
    private let group: any EventLoopGroup
    private let logger: Logger

    public init(settings: SMTPSettings, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "portal.mail")) {
        self.settings = settings
        self.group = eventLoopGroup
        self.logger = logger
    }

    /// Returns once the relay has accepted the message (250 after the data) for every recipient; throws when any
    /// step fails, when the relay refuses any recipient, or when the whole send outlasts `totalTimeout`.
    public func send(_ message: MailMessage) async throws(MailError) {
        try settings.validate()
        guard !message.to.isEmpty else { throw .invalidMessage("it has no recipient") }
        let tls = settings.security == .none ? nil : try settings.makeTLSContext()
        let deadline = NIODeadline.now() + settings.totalTimeout
        let session = try await SMTPSession.connect(settings, tls: tls, deadline: deadline, group: group, logger: logger)
        try await session.deliver(message)
        logger.debug("mail accepted by the relay", metadata: ["smtp.server": "\(settings.server)", "mail.message_id": "\(message.messageID)"])
    }
}

/// One connection's conversation.
private struct SMTPSession {
    let settings: SMTPSettings
    let tls: NIOSSLContext?
    let deadline: NIODeadline
    let channel: any Channel
    let greeting: EventLoopFuture<SMTPReply>
    let logger: Logger

    static func connect(_ settings: SMTPSettings, tls: NIOSSLContext?, deadline: NIODeadline, group: any EventLoopGroup,
                        logger: Logger) async throws(MailError) -> SMTPSession {
        let implicitTLS = settings.security == .implicitTLS ? tls : nil
        let serverName = settings.tlsServerName
        do {
            let (channel, greeting) = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(min(settings.connectTimeout, settings.totalTimeout))
                .connect(host: settings.host, port: settings.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        var handler: NIOSSLClientHandler?
                        if let implicitTLS {
                            let tlsHandler = try NIOSSLClientHandler(context: implicitTLS, serverHostname: serverName)
                            try channel.pipeline.syncOperations.addHandler(tlsHandler)
                            handler = tlsHandler
                        }
                        let greeting = channel.eventLoop.makePromise(of: SMTPReply.self)
                        try channel.pipeline.syncOperations.addHandler(
                            SMTPConnectionHandler(greeting: greeting, greetingTimeout: settings.commandTimeout, deadline: deadline, tls: handler))
                        return (channel, greeting.futureResult)
                    }
                }
            return SMTPSession(settings: settings, tls: tls, deadline: deadline, channel: channel, greeting: greeting, logger: logger)
        } catch {
            let reason = NetworkFailure.explain(error, server: settings.server, trust: settings.tls.trustRoots) ?? "\(error)"
            throw NetworkFailure.isTLS(error) ? .tls(server: settings.server, reason: reason) : .connect(server: settings.server, reason: reason)
        }
    }

    func deliver(_ message: MailMessage) async throws(MailError) {
        let channel = channel
        let outcome: Result<Void, MailError> = await withTaskCancellationHandler {
            do throws(MailError) {
                try await conversation(message)
                return .success(())
            } catch {
                return .failure(error)
            }
        } onCancel: {
            channel.close(promise: nil)
        }
        if case let .failure(error) = outcome {
            if error.relayStillListens { _ = try? await exchange("QUIT", stage: .endOfData, within: .seconds(5)) }
            channel.close(promise: nil)
            throw error
        }
        // The message is the relay's once it answered the data: a failed QUIT changes nothing.
        _ = try? await exchange("QUIT", stage: .endOfData, within: .seconds(5))
        channel.close(promise: nil)
    }

    private func conversation(_ message: MailMessage) async throws(MailError) {
        let greeting = try await reply(greeting, stage: .greeting)
        guard greeting.code == 220 else { throw .rejected(server: server, stage: .greeting, reply: greeting) }
        var capabilities = try await hello()
        if settings.security == .startTLS, let tls {
            guard capabilities.offers("STARTTLS") else { throw .startTLSNotOffered(server: server) }
            let answer = try await exchange("STARTTLS", stage: .startTLS, upgrade: TLSUpgrade(context: tls, serverName: settings.tlsServerName))
            guard answer.code == 220 else { throw .rejected(server: server, stage: .startTLS, reply: answer) }
            // RFC 3207 §4.2: forget everything learnt before TLS and ask again.
            capabilities = try await hello()
        }
        if let username = settings.username, let password = settings.password {
            try await authenticate(username: username, password: password, capabilities: capabilities)
        }
        try await expect(250, "MAIL FROM:<\(message.from.address)>", stage: .mailFrom)
        for recipient in message.to {
            let answer = try await exchange("RCPT TO:<\(recipient.address)>", stage: .recipient(recipient.address))
            guard answer.code == 250 || answer.code == 251 else {
                throw .recipientRefused(server: server, address: recipient.address, reply: answer)
            }
        }
        try await expect(354, "DATA", stage: .data)
        var data = channel.allocator.buffer(capacity: 0)
        DotStuffing.encode(message.rendered(), into: &data)
        let accepted = try await send(data, stage: .endOfData)
        guard accepted.code == 250 else { throw .rejected(server: server, stage: .endOfData, reply: accepted) }
    }

    /// EHLO, or HELO when EHLO is refused and no TLS is wanted (HELO offers neither STARTTLS nor AUTH).
    private func hello() async throws(MailError) -> SMTPCapabilities {
        let answer = try await exchange("EHLO \(settings.heloName)", stage: .ehlo)
        if answer.code == 250 { return SMTPCapabilities(ehlo: answer) }
        guard answer.code >= 500, settings.security == .none else { throw .rejected(server: server, stage: .ehlo, reply: answer) }
        try await expect(250, "HELO \(settings.heloName)", stage: .helo)
        return SMTPCapabilities()
    }

    /// AUTH PLAIN (RFC 4616) with the initial response, else AUTH LOGIN. Only over TLS or to a loopback relay
    /// (`SMTPSettings.validate`). The encoded credentials never reach a log or an error.
    private func authenticate(username: String, password: String, capabilities: SMTPCapabilities) async throws(MailError) {
        let mechanisms = capabilities.authenticationMechanisms
        if mechanisms.contains("PLAIN") {
            let answer = try await exchange("AUTH PLAIN " + MIMEEncoding.base64(Array("\0\(username)\0\(password)".utf8)), stage: .authentication)
            guard answer.code == 235 else { throw .authenticationRefused(server: server, reply: answer) }
        } else if mechanisms.contains("LOGIN") {
            for step in ["AUTH LOGIN", MIMEEncoding.base64(Array(username.utf8))] {
                let answer = try await exchange(step, stage: .authentication)
                guard answer.code == 334 else { throw .authenticationRefused(server: server, reply: answer) }
            }
            let answer = try await exchange(MIMEEncoding.base64(Array(password.utf8)), stage: .authentication)
            guard answer.code == 235 else { throw .authenticationRefused(server: server, reply: answer) }
        } else {
            throw .authenticationNotOffered(server: server, offered: mechanisms)
        }
    }

    private var server: String { settings.server }

    private func expect(_ code: Int, _ command: String, stage: SMTPStage) async throws(MailError) {
        let answer = try await exchange(command, stage: stage)
        guard answer.code == code else { throw .rejected(server: server, stage: stage, reply: answer) }
    }

    private func exchange(_ command: String, stage: SMTPStage, upgrade: TLSUpgrade? = nil,
                          within limit: TimeAmount? = nil) async throws(MailError) -> SMTPReply {
        var bytes = channel.allocator.buffer(capacity: command.utf8.count + 2)
        bytes.writeString(command)
        bytes.writeString("\r\n")
        // The verb only: arguments are patients' addresses or credentials.
        logger.trace("smtp command", metadata: ["smtp.command": "\(command.prefix { $0 != " " && $0 != ":" })"])
        return try await send(bytes, stage: stage, upgrade: upgrade, within: limit)
    }

    private func send(_ bytes: ByteBuffer, stage: SMTPStage, upgrade: TLSUpgrade? = nil,
                      within limit: TimeAmount? = nil) async throws(MailError) -> SMTPReply {
        let commandDeadline = NIODeadline.now() + min(limit ?? settings.commandTimeout, settings.commandTimeout)
        let promise = channel.eventLoop.makePromise(of: SMTPReply.self)
        let request = SMTPRequest(bytes: bytes, reply: promise, deadline: min(commandDeadline, deadline), whole: deadline < commandDeadline,
                                  upgrade: upgrade)
        // A connection closed before this command met the handler: fail the reply with the write's error.
        channel.writeAndFlush(request).whenFailure { promise.fail($0) }
        return try await reply(promise.futureResult, stage: stage)
    }

    private func reply(_ future: EventLoopFuture<SMTPReply>, stage: SMTPStage) async throws(MailError) -> SMTPReply {
        let answer: SMTPReply
        do {
            answer = try await future.get()
        } catch {
            throw mailError(error, stage: stage)
        }
        logger.trace("smtp reply", metadata: ["smtp.reply": "\(answer.code)"])
        return answer
    }

    private func mailError(_ error: any Error, stage: SMTPStage) -> MailError {
        let trust = settings.tls.trustRoots
        switch error as? SMTPConnectionFailure {
        case let .timeout(whole)?:
            return .timeout(server: server, stage: stage, after: whole ? settings.totalTimeout : settings.commandTimeout, whole: whole)
        case let .malformed(reason)?:
            return .malformedReply(server: server, stage: stage, reason: reason)
        case let .unsolicited(reply)?:
            // 421: the relay is shutting down and says so before closing (RFC 5321 §3.8).
            return reply.code == 421 ? .rejected(server: server, stage: stage, reply: reply)
                : .malformedReply(server: server, stage: stage, reason: "it sent \"\(Printable.text(reply.description))\" unasked (a broken relay, or data injected on the way)")
        case .injection?:
            return .startTLSInjection(server: server)
        case .closed?:
            return .closed(server: server, stage: stage, reason: nil)
        case let .tls(failure)?:
            return .tls(server: server, reason: failure.explain(server: server, trust: trust))
        case let .network(error)?:
            return network(error, stage: stage)
        case nil:
            return network(error, stage: stage)
        }
    }

    private func network(_ error: any Error, stage: SMTPStage) -> MailError {
        let reason = NetworkFailure.explain(error, server: server, trust: settings.tls.trustRoots)
        return NetworkFailure.isTLS(error) ? .tls(server: server, reason: reason ?? "\(error)") : .closed(server: server, stage: stage, reason: reason ?? "\(error)")
    }
}

extension MailError {
    /// The relay answered and waits for the next command: QUIT is polite.
    var relayStillListens: Bool {
        switch self {
        case .rejected, .recipientRefused, .authenticationRefused, .authenticationNotOffered, .startTLSNotOffered: true
        default: false
        }
    }
}
