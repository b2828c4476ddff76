import NIOCore
import NIOSSL
import NIOTLS

/// Puts TLS in front of the connection on a 220 answer to STARTTLS (RFC 3207).
struct TLSUpgrade: Sendable {
    var context: NIOSSLContext
    var serverName: String?
}

/// One command (already encoded, CRLF included) and the promise of its reply, which fails at `deadline`.
struct SMTPRequest: Sendable {
    var bytes: ByteBuffer
    var reply: EventLoopPromise<SMTPReply>
    var deadline: NIODeadline
    /// The deadline is the whole operation's rather than the command's.
    var whole: Bool
    var upgrade: TLSUpgrade?
}

/// The client's end of an SMTP connection: writes one command at a time (no PIPELINING), parses the reply,
/// completes the command's promise, and fails it at its deadline, on a malformed reply, on a reply nobody
/// asked for, on TLS or network errors, or when the connection closes. After a failure the connection is
/// closed and every later command fails with the first failure.
///
/// STARTTLS happens here, on the event loop, in the same read that brings the 220: the bytes after it are
/// checked (none may follow before the handshake, or a man in the middle could have queued answers to
/// commands we have not sent yet) and TLS is put first in the pipeline before another byte is read. The
/// STARTTLS promise completes when the handshake has.
final class SMTPConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = SMTPRequest
    typealias OutboundOut = ByteBuffer

    private struct Waiting {
        var reply: EventLoopPromise<SMTPReply>
        var deadline: NIODeadline
        var whole: Bool
        var upgrade: TLSUpgrade?
        /// The 220 to STARTTLS, held until the handshake completes.
        var handshaking: SMTPReply?
    }

    private var waiting: Waiting?
    private var buffer = ByteBuffer()
    private var parser = SMTPReplyParser()
    private var failure: SMTPConnectionFailure?
    private var timer: Scheduled<Void>?
    private var tls: NIOSSLClientHandler?

    private let greetingTimeout: TimeAmount

    /// `greeting`: the promise of the relay's first reply, due `greetingTimeout` after the connection is
    /// established (not counting the time connecting took) or at `deadline`, whichever comes first; `tls`: the
    /// handler of implicit TLS, if any.
    init(greeting: EventLoopPromise<SMTPReply>, greetingTimeout: TimeAmount, deadline: NIODeadline, tls: NIOSSLClientHandler?) {
        waiting = Waiting(reply: greeting, deadline: deadline, whole: true)
        self.greetingTimeout = greetingTimeout
        self.tls = tls
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startGreetingTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startGreetingTimer(context: context)
        context.fireChannelActive()
    }

    private func startGreetingTimer(context: ChannelHandlerContext) {
        guard var greeting = waiting, timer == nil else { return }
        let due = NIODeadline.now() + greetingTimeout
        greeting.whole = greeting.deadline < due
        greeting.deadline = min(greeting.deadline, due)
        waiting = greeting
        startTimer(context: context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            request.reply.fail(failure)
            promise?.fail(failure)
            return
        }
        guard waiting == nil else {
            // The client awaits each reply before its next command; two at once is a bug, not the relay's doing.
            let failure = SMTPConnectionFailure.malformed("a command was sent before the previous answer (client error)")
            request.reply.fail(failure)
            promise?.fail(failure)
            return
        }
        waiting = Waiting(reply: request.reply, deadline: request.deadline, whole: request.whole, upgrade: request.upgrade)
        startTimer(context: context)
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard failure == nil else { return }
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        do {
            while let reply = try parser.next(from: &buffer) {
                if try deliver(reply, context: context) { break }
            }
            buffer.discardReadBytes()
        } catch let error as SMTPConnectionFailure {
            fail(error, context: context)
        } catch {
            fail(.network(error), context: context)
        }
    }

    /// Completes the waiting command with `reply`; true when TLS was put in front (nothing more may be read
    /// from this buffer).
    private func deliver(_ reply: SMTPReply, context: ChannelHandlerContext) throws -> Bool {
        guard var current = waiting, current.handshaking == nil else { throw SMTPConnectionFailure.unsolicited(reply) }
        if let upgrade = current.upgrade, reply.code == 220 {
            guard buffer.readableBytes == 0 else { throw SMTPConnectionFailure.injection }
            let handler: NIOSSLClientHandler
            do {
                handler = try NIOSSLClientHandler(context: upgrade.context, serverHostname: upgrade.serverName)
            } catch {
                throw SMTPConnectionFailure.tls(TLSFailure(error: error))
            }
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
            tls = handler
            current.handshaking = reply
            waiting = current
            return true
        }
        complete(with: reply)
        return false
    }

    private func complete(with reply: SMTPReply) {
        timer?.cancel()
        timer = nil
        let promise = waiting?.reply
        waiting = nil
        promise?.succeed(reply)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent, let reply = waiting?.handshaking {
            complete(with: reply)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard NetworkFailure.isTLS(error) else { return fail(.network(error), context: context) }
        var first = TLSFailure(error: error)
        // BoringSSL still holds the certificate it refused: its dates tell "expired" from "unknown CA".
        if "\(error)".contains("CERTIFICATE_VERIFY_FAILED"), let certificate = tls?.peerCertificate {
            first.notValidBefore = certificate.notValidBefore
            first.notValidAfter = certificate.notValidAfter
        }
        fail(.tls(first), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.closed, context: context)
        context.fireChannelInactive()
    }

    /// A connection that never became active (refused) is torn down without channelInactive.
    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        let promise = waiting?.reply
        waiting = nil
        promise?.fail(failure ?? .closed)
    }

    private func startTimer(context: ChannelHandlerContext) {
        guard let deadline = waiting?.deadline, timer == nil else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            fail(.timeout(whole: waiting?.whole ?? false), context: context)
        }
    }

    /// Keeps the first failure, fails the waiting command with it and closes the connection.
    private func fail(_ error: SMTPConnectionFailure, context: ChannelHandlerContext) {
        let first = failure ?? error
        failure = first
        timer?.cancel()
        timer = nil
        let promise = waiting?.reply
        waiting = nil
        promise?.fail(first)
        context.close(promise: nil)
    }
}
