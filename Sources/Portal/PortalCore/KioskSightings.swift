import Foundation
import Hummingbird
import Logging
import PortalStore
import Synchronization

/// When each kiosk was last seen: every request of a verified kiosk notes it, and at most once a minute per kiosk
/// (or when its address changes) the kiosks row is updated, in a task of its own so no request waits for it.
final class KioskSightings: Sendable {
    static let interval: Duration = .seconds(60)

    private let registry: KioskRegistry
    private let logger: Logger
    private let written = Mutex<[String: (at: ContinuousClock.Instant, address: String?)]>([:])

    init(registry: KioskRegistry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    func note(_ kiosk: String, address: String?) {
        let now = ContinuousClock.now
        let due = written.withLock { written -> Bool in
            if let last = written[kiosk], last.address == address, now - last.at < Self.interval { return false }
            written[kiosk] = (now, address)
            return true
        }
        guard due else { return }
        let registry = registry, logger = logger
        Task {
            do { try await registry.seen(name: kiosk, address: address) } catch {
                logger.debug("could not record when a kiosk was last seen", metadata: ["kiosk": "\(kiosk)", "error": "\(error)"])
            }
        }
    }
}

/// Notes the verified kiosk of each request in `KioskSightings`.
struct KioskSeen: RouterMiddleware {
    typealias Context = KioskRequestContext
    let sightings: KioskSightings

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let peer = context.kiosk { sightings.note(peer.identity.name, address: context.address) }
        return try await next(request, context)
    }
}
