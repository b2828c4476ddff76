import Foundation
import Hummingbird
import Logging
import PortalStore
import WebSecurity

/// The fleet's status: `GET /api/fleet?from=&to=` — the job queue, workers' heartbeats, delivery backlog per
/// destination, batches waiting, and the kiosks (last seen, revoked, sessions in the period).
public struct FleetAPI: ConsoleArea {
    let database: PortalDatabase
    let logger: Logger
    let leaseSeconds: Double

    /// - Parameter leaseSeconds: the workers' lease (`[worker] lease_seconds`), which says when a worker is alive.
    public init(database: PortalDatabase, logger: Logger, leaseSeconds: Double) {
        self.database = database
        self.logger = logger
        self.leaseSeconds = leaseSeconds
    }

    public func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.get("/api/fleet") { request, context in
            _ = try context.require(.viewAnalytics)
            let filter = try AnalyticsAPI.filter(request)
            let status = try await ConsoleResponses.reading("the fleet status", logger: logger) {
                try await FleetStatusReader(database, leaseSeconds: leaseSeconds).status(from: filter.from, to: filter.to)
            }
            return try ConsoleResponses.json(status)
        }
    }
}
