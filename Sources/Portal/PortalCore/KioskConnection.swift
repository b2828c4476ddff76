import Crypto
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import NIOTLS
import PortalPKI
import Uploads
import X509

/// The verified kiosk on the other end of a connection: its identity and the public key of the certificate it
/// presented (manifests are signed with that key).
public struct KioskPeer: Sendable {
    public let identity: KioskIdentity
    /// Kept as the certificate's key (Sendable; Crypto's key types are not), P-256 by construction.
    public let certificateKey: Certificate.PublicKey

    /// The key manifests are verified with.
    public var publicKey: P256.Signing.PublicKey { P256.Signing.PublicKey(certificateKey)! }

    /// Uploads of a kiosk are owned by `kiosk:<name>`, so no kiosk reaches another's (nor a patient's) uploads.
    public var owner: UploadOwner { UploadOwner(Self.ownerPrefix + identity.name) }

    static let ownerPrefix = "kiosk:"

    /// Reads the peer from a pipeline whose TLS handshake completed through a `KioskVerifier`; on the event loop.
    static func read(_ pipeline: ChannelPipeline.SynchronousOperations) throws -> KioskPeer? {
        guard let identity = try pipeline.kioskIdentity(),
              let leaf = try pipeline.nioSSL_peerValidatedCertificateChain()?.leaf else { return nil }
        let certificate = try Certificate(derEncoded: leaf.toDERBytes())
        // Kiosk keys are P-256 (PortalAuthority.issueKiosk); any other key cannot sign a manifest.
        guard P256.Signing.PublicKey(certificate.publicKey) != nil else { return nil }
        return KioskPeer(identity: identity, certificateKey: certificate.publicKey)
    }

    /// The peer of the connection whose requests this task serves. Hummingbird makes a request's context off the
    /// event loop, where the pipeline cannot be read synchronously, so the connection's task carries the peer
    /// (read on the event loop at handshake) and the context picks it up when it is made.
    @TaskLocal static var current: KioskPeer?
}

/// The request context of core's kiosk listener: Hummingbird's basics plus the verified kiosk.
public struct KioskRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Nil only if the connection's TLS handshake did not go through a `KioskVerifier` (never on core's listener).
    public let kiosk: KioskPeer?
    /// The kiosk's address as core sees it (recorded as the kiosk's last address).
    public let address: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        kiosk = KioskPeer.current
        address = source.channel.remoteAddress?.ipAddress
    }
}

/// A child channel with TLS verified by `KioskVerifier` (Hummingbird's `TLSChannel` offers no verification callback
/// with metadata, which is what makes the peer's validated chain, and so its identity, readable), the registry of open
/// kiosk connections, then the wrapped HTTP channel.
struct KioskTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let base: Base.Value
        /// Completed once the handshake has finished (nil if the connection closed first).
        let peer: EventLoopFuture<KioskPeer?>
        var channel: any Channel { base.channel }
    }

    let base: Base
    let sslContext: NIOSSLContext
    let verifier: KioskVerifier
    let channels: KioskChannels

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let peer = channel.eventLoop.makePromise(of: KioskPeer?.self)
        return channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(verifier.makeServerHandler(context: sslContext))
            try pipeline.addHandler(channels.tracker())
            try pipeline.addHandler(HandshakeWatcher(peer: peer))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }.map { value in
            Value(base: value, peer: peer.futureResult)
        }.flatMapErrorThrowing { error in
            peer.succeed(nil)
            throw error
        }
    }

    func handle(value: Value, logger: Logger) async {
        let peer = (try? await value.peer.get()) ?? nil
        await KioskPeer.$current.withValue(peer) {
            await base.handle(value: value.base, logger: logger)
        }
    }
}

/// Completes the connection's peer promise once: at the handshake, or with nil when the channel goes first.
private final class HandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let peer: EventLoopPromise<KioskPeer?>
    private var done = false

    init(peer: EventLoopPromise<KioskPeer?>) { self.peer = peer }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            complete(try? KioskPeer.read(context.pipeline.syncOperations))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        complete(nil)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        complete(nil)
    }

    private func complete(_ value: KioskPeer?) {
        guard !done else { return }
        done = true
        peer.succeed(value)
    }
}
