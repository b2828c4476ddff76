import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PortalPKI
import TestSupport
import XCTest

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "portal-pki-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs the real `openssl` tool; returns its standard output and error together, and its exit status.
func openssl(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let result = try TestSupport.run("openssl", arguments, check: false)
    return (result.status, result.stdoutText + result.stderrText)
}

/// What the verifier refused, in order.
final class RejectionLog: Sendable {
    private let box = NIOLockedValueBox<[KioskVerificationError]>([])
    func record(_ error: KioskVerificationError) { box.withLockedValue { $0.append(error) } }
    var all: [KioskVerificationError] { box.withLockedValue { $0 } }
}

/// The portal's revocation list as the test flips it (the portal backs the closure by PostgreSQL).
final class RevokedSerials: Sendable {
    private let box = NIOLockedValueBox<Set<String>>([])
    func revoke(_ serial: String) { box.withLockedValue { _ = $0.insert(serial) } }
    func contains(_ serial: String) -> Bool { box.withLockedValue { $0.contains(serial) } }
}

/// A tiny HTTPS server on 127.0.0.1 that answers every request with the verified kiosk's name.
final class KioskEchoServer: Sendable {
    let channel: any Channel
    let channels = KioskChannels()
    var port: Int { channel.localAddress!.port! }

    init(tls: TLSConfiguration, verifier: KioskVerifier) async throws {
        let context = try NIOSSLContext(configuration: tls)
        let channels = self.channels
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    let pipeline = child.pipeline.syncOperations
                    try pipeline.addHandler(verifier.makeServerHandler(context: context))
                    try pipeline.addHandler(channels.tracker())
                    try pipeline.configureHTTPServerPipeline()
                    try pipeline.addHandler(NameResponder())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async throws { try await channel.close() }
}

private final class NameResponder: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let name = ((try? context.pipeline.syncOperations.kioskIdentity()) ?? nil)?.name ?? "(none)"
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: "\(name.utf8.count)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: name)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
