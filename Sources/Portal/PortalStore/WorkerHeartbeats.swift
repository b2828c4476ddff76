import Foundation
import Logging
import PostgresNIO

/// The `workers` table: each worker process's row, beaten every few seconds while it runs, so the console shows
/// which workers are alive, what each is doing and how many batches it finished or failed.
public struct WorkerHeartbeats: Sendable {
    /// How often a running worker beats.
    public static let interval: Duration = .seconds(5)

    let database: PortalDatabase
    private var logger: Logger { database.logger }

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// A worker starts (its name is `worker:HOST:PID`, so a restarted process is a new row).
    public func started(name: String, host: String, pid: Int) async throws {
        try await database.client.query("""
            INSERT INTO workers (name, host, pid, started_at, last_seen_at)
            VALUES (\(name), \(host), \(Int32(truncatingIfNeeded: pid)), now(), now())
            ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, started_at = now(), last_seen_at = now(),
                batches_done = 0, batches_failed = 0, current_batch = NULL, stopped_at = NULL
            """, logger: logger)
    }

    /// The worker is alive and working on `currentBatch` (nil: idle). False when it has no row.
    @discardableResult
    public func beat(name: String, currentBatch: UUID?) async throws -> Bool {
        var found = false
        for try await _ in try await database.client.query("""
            UPDATE workers SET last_seen_at = now(), current_batch = \(currentBatch) WHERE name = \(name) RETURNING name
            """, logger: logger) { found = true }
        return found
    }

    /// A batch ended: recorded (done) or failed.
    public func finished(name: String, failed: Bool) async throws {
        try await database.client.query("""
            UPDATE workers SET last_seen_at = now(),
                batches_done = batches_done + CASE WHEN \(failed) THEN 0 ELSE 1 END,
                batches_failed = batches_failed + CASE WHEN \(failed) THEN 1 ELSE 0 END
            WHERE name = \(name)
            """, logger: logger)
    }

    /// The worker stopped gracefully.
    public func stopped(name: String) async throws {
        try await database.client.query("""
            UPDATE workers SET last_seen_at = now(), current_batch = NULL, stopped_at = now() WHERE name = \(name)
            """, logger: logger)
    }
}
