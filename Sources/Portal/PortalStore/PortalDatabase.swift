import Logging
import PostgresNIO

/// The connection pool to the portal's database, running from `init` until `shutdown()`. Reconnecting after
/// the server restarts is the pool's job: a query leases a fresh connection when the old ones are gone.
public final class PortalDatabase: Sendable {
    public let client: PostgresClient
    public let settings: DatabaseSettings
    public let logger: Logger
    private let runner: Task<Void, Never>

    public init(settings: DatabaseSettings, logger: Logger = Logger(label: "portal.database")) throws(DatabaseSettingsError) {
        self.settings = settings
        self.logger = logger
        let client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
    }

    /// Closes every connection; the value is unusable afterwards.
    public func shutdown() async {
        runner.cancel()
        await runner.value
    }

    /// Runs `body` in one transaction on one connection, rolled back if it throws. Unlike the pool's
    /// `withTransaction`, the error `body` threw reaches the caller unwrapped.
    @discardableResult
    public func transaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> Result) async throws -> Result {
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                let result = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                // The connection may be gone (that is often why we are here); the pool discards it then.
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }
}
