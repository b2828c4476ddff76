import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOTLS

/// The open, verified kiosk connections, so revoking a kiosk can also cut the connections it already
/// has (TLS verification only guards new handshakes).
public final class KioskChannels: Sendable {
    private let open = NIOLockedValueBox<[ObjectIdentifier: (identity: KioskIdentity, channel: any Channel)]>([:])

    public init() {}

    /// Remembers `channel` as `identity`'s until it closes.
    public func register(_ channel: any Channel, as identity: KioskIdentity) {
        let key = ObjectIdentifier(channel)
        open.withLockedValue { $0[key] = (identity, channel) }
        channel.closeFuture.whenComplete { [open] _ in
            _ = open.withLockedValue { $0.removeValue(forKey: key) }
        }
    }

    /// Closes every open connection of the certificate with `serial`; returns how many there were.
    @discardableResult
    public func close(serial: String) -> Int {
        let channels = open.withLockedValue { $0.values.filter { $0.identity.serial == serial }.map(\.channel) }
        for channel in channels { channel.close(promise: nil) }
        return channels.count
    }

    /// The certificate serials with an open connection.
    public func serials() -> Set<String> {
        open.withLockedValue { Set($0.values.map(\.identity.serial)) }
    }

    /// The number of open connections of the certificate with `serial`.
    public func count(serial: String) -> Int {
        open.withLockedValue { $0.values.count { $0.identity.serial == serial } }
    }

    /// A handler to put after the ``KioskVerifier``'s TLS handler: registers the connection once its
    /// handshake has completed.
    public func tracker() -> any ChannelHandler & Sendable {
        Tracker(channels: self)
    }

    private final class Tracker: ChannelInboundHandler, Sendable {
        typealias InboundIn = NIOAny
        let channels: KioskChannels

        init(channels: KioskChannels) { self.channels = channels }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted = event as? TLSUserEvent,
                let identity = try? context.pipeline.syncOperations.kioskIdentity()
            {
                channels.register(context.channel, as: identity)
            }
            context.fireUserInboundEventTriggered(event)
        }
    }
}
