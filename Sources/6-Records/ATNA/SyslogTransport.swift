import Foundation
import POSIX
import NIOCore
import NIOPosix
import NIOSSL
#if canImport(Glibc)
import Glibc
#endif

/// Where ATNA messages go: `syslog+tls://HOST:PORT` (RFC 5425, default port 6514) or
/// `syslog+udp://HOST:PORT` (RFC 5426, default 514).
public struct AuditRepository: Sendable, Equatable, CustomStringConvertible {
    public enum Transport: String, Sendable { case tls, udp }
    public var transport: Transport
    public var host: String
    public var port: Int

    public init(transport: Transport, host: String, port: Int) { self.transport = transport; self.host = host; self.port = port }

    public init(parsing text: String) throws(RepositoryError) {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty else { throw RepositoryError("not a URL: use syslog+tls://HOST:6514 or syslog+udp://HOST:514") }
        switch scheme {
        case "syslog+tls": transport = .tls
        case "syslog+udp": transport = .udp
        default: throw RepositoryError("unknown scheme \(scheme): use syslog+tls:// or syslog+udp://")
        }
        guard components.user == nil, components.password == nil, components.path.isEmpty || components.path == "/" else {
            throw RepositoryError("only a host and a port belong in the address")
        }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? (transport == .tls ? 6514 : 514)
        guard (1...65535).contains(port) else { throw RepositoryError("port \(port) is out of range") }
    }

    public var description: String { "syslog+\(transport.rawValue)://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
}

public struct RepositoryError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Sends a batch of syslog messages. A throw means none can be assumed received: the forwarder
/// keeps them queued and sends them again (at least once).
public struct SyslogSender: Sendable {
    public let repository: AuditRepository
    public let tls: TLSConfiguration?
    public let timeout: TimeAmount

    public init(repository: AuditRepository, tls: TLSConfiguration?, timeoutSeconds: Int) {
        self.repository = repository; self.tls = tls; self.timeout = .seconds(Int64(timeoutSeconds))
    }

    public func send(_ messages: [[UInt8]]) async throws {
        guard !messages.isEmpty else { return }
        switch repository.transport {
        case .tls: try await sendTLS(messages)
        case .udp: try sendUDP(messages)
        }
    }

    private func sendTLS(_ messages: [[UInt8]]) async throws {
        let context = try NIOSSLContext(configuration: tls ?? .makeClientConfiguration())
        let host = repository.host
        let hostname = (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: hostname))
                    try channel.pipeline.syncOperations.addHandler(ErrorSink())
                }
            }
            .connect(host: host, port: repository.port).get()
        } catch {
            throw SendError.unreachable("cannot connect to \(repository): \(error)")
        }
        // A repository that stops reading must not hang the kiosk.
        let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        defer { deadline.cancel() }
        do {
            for message in messages.dropLast() { channel.write(ByteBuffer(bytes: Syslog.octetCounted(message)), promise: nil) }
            try await channel.writeAndFlush(ByteBuffer(bytes: Syslog.octetCounted(messages[messages.count - 1]))).get()
        } catch {
            channel.close(promise: nil)
            throw SendError.tls(String(describing: error))
        }
        // Syslog receivers often drop the connection without answering close_notify (NIOSSL's
        // uncleanShutdown): everything was written by then, so that is not a failure.
        do { try await channel.close().get() } catch NIOSSLError.uncleanShutdown {} catch ChannelError.alreadyClosed {} catch {
            throw SendError.tls(String(describing: error))
        }
    }

    /// One datagram per message (RFC 5426 §3.1) on a connected socket, so a refusal the peer's host
    /// reports (ICMP) shows up as an error on the next send.
    private func sendUDP(_ messages: [[UInt8]]) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(repository.host, String(repository.port), &hints, &result)
        guard status == 0, let info = result else { throw SendError.unreachable("cannot resolve \(repository.host): \(String(cString: gai_strerror(status)))") }
        defer { freeaddrinfo(result) }
        let socket: Descriptor
        do { socket = try Descriptor.socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol) } catch {
            throw SendError.unreachable("socket: \(error)")
        }
        let fd = socket.rawValue
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            throw SendError.unreachable("connect: \(String(cString: strerror(errno)))")
        }
        for (index, message) in messages.enumerated() {
            guard message.count <= 65_000 else { throw SendError.tooLarge(message.count) }
            // UDP has no flow control: a short pause every few datagrams keeps a burst (a backlog
            // after an outage) from overrunning the receiver's socket buffer.
            if index > 0 && index % 16 == 0 { usleep(2_000) }
            let sent = message.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            guard sent == message.count else { throw SendError.unreachable("send: \(String(cString: strerror(errno)))") }
        }
    }

    public enum SendError: Error, CustomStringConvertible {
        case unreachable(String)
        case tls(String)
        case tooLarge(Int)

        public var description: String {
            switch self {
            case let .unreachable(what): "the audit repository is unreachable (\(what))"
            case let .tls(what): "the TLS connection to the audit repository failed (\(what))"
            case let .tooLarge(size): "a message of \(size) bytes does not fit a UDP datagram"
            }
        }
    }
}

/// Swallows errors at the end of the pipeline: they reach the caller through the write's future.
private final class ErrorSink: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
