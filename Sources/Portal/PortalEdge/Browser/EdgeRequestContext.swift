import Hummingbird
import HummingbirdCore
import NIOCore

/// The request context of the patients' listener: Hummingbird's basics, the caller's address (throttles and the
/// security events name it) and the session the cookie names, loaded by `SessionMiddleware`.
public struct EdgeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let address: String?
    var session: EdgeSession?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        address = source.channel.remoteAddress?.ipAddress
    }
}
