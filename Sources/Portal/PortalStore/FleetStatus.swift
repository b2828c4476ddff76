import Foundation
import Logging
import PostgresNIO

/// The fleet as it stands: the job queue, the workers' heartbeats, what waits for each destination, and the kiosks.
public struct FleetStatus: Codable, Sendable, Equatable {
    public struct Queue: Codable, Sendable, Equatable {
        /// Jobs per state (queued, running, done, dead).
        public var byState: [String: Int]
        /// How long the oldest due queued job has waited, in seconds.
        public var oldestQueuedSeconds: Double?
        public var deadLetters: Int
    }

    public struct Worker: Codable, Sendable, Equatable {
        public var name: String
        public var host: String
        public var pid: Int
        public var startedAt: Date
        public var lastSeenAt: Date
        /// Seen within three lease renewals and not stopped.
        public var alive: Bool
        public var currentBatch: String?
        public var batchesDone: Int64
        public var batchesFailed: Int64
        public var stoppedAt: Date?
    }

    public struct Destination: Codable, Sendable, Equatable {
        public var destination: String
        public var pending: Int
        public var failed: Int
    }

    public struct Kiosk: Codable, Sendable, Equatable {
        public var name: String
        public var lastSeenAt: Date?
        public var lastAddress: String?
        public var revoked: Bool
        /// Sessions recorded in the period asked for.
        public var sessions: Int
    }

    public var queue: Queue
    public var workers: [Worker]
    public var deliveries: [Destination]
    /// Batches per state, and those waiting for a worker (committed or being processed).
    public var batchesByState: [String: Int]
    public var batchesWaiting: Int
    public var kiosks: [Kiosk]
    public var auditHeadSeq: Int64
}

/// Reads `FleetStatus` from the database.
public struct FleetStatusReader: Sendable {
    /// Workers that stopped or went silent longer ago than this are no longer listed.
    public static let workerHistory: TimeInterval = 7 * 86400

    let database: PortalDatabase
    /// The workers' lease (`[worker] lease_seconds`): a worker renews every third of it, so one not seen for a whole
    /// lease has missed three renewals.
    let leaseSeconds: Double
    private var logger: Logger { database.logger }

    public init(_ database: PortalDatabase, leaseSeconds: Double) {
        self.database = database
        self.leaseSeconds = leaseSeconds
    }

    /// The status, with each kiosk's sessions counted from `from` to `to` (days, inclusive).
    public func status(from: String, to: String) async throws -> FleetStatus {
        var byState: [String: Int] = [:]
        for try await (state, count) in try await query("SELECT state, count(*)::int FROM jobs GROUP BY state").decode((String, Int).self) {
            byState[state] = count
        }
        var oldest: Double?
        for try await seconds in try await query("""
            SELECT extract(epoch FROM now() - min(run_after))::float8 FROM jobs WHERE state = 'queued' AND run_after <= now()
            """).decode(Double?.self) { oldest = seconds }

        var workers: [FleetStatus.Worker] = []
        for try await (name, host, pid, started, seen, alive, batch, done, failed, stopped) in try await query("""
            SELECT name, host, pid, started_at, last_seen_at,
                   stopped_at IS NULL AND last_seen_at > now() - make_interval(secs => \(leaseSeconds)),
                   current_batch, batches_done, batches_failed, stopped_at
            FROM workers WHERE last_seen_at > now() - make_interval(secs => \(Self.workerHistory))
            ORDER BY name LIMIT 500
            """).decode((String, String, Int32, Date, Date, Bool, UUID?, Int64, Int64, Date?).self) {
            workers.append(FleetStatus.Worker(name: name, host: host, pid: Int(pid), startedAt: started, lastSeenAt: seen, alive: alive,
                                              currentBatch: batch?.uuidString.lowercased(), batchesDone: done, batchesFailed: failed,
                                              stoppedAt: stopped))
        }

        var deliveries: [FleetStatus.Destination] = []
        for try await (destination, pending, failed) in try await query("""
            SELECT destination, count(*) FILTER (WHERE state = 'pending')::int, count(*) FILTER (WHERE state = 'failed')::int
            FROM deliveries WHERE state IN ('pending', 'failed') GROUP BY destination ORDER BY destination
            """).decode((String, Int, Int).self) {
            deliveries.append(FleetStatus.Destination(destination: destination, pending: pending, failed: failed))
        }

        var batches: [String: Int] = [:]
        for try await (state, count) in try await query("SELECT state, count(*)::int FROM batches GROUP BY state").decode((String, Int).self) {
            batches[state] = count
        }

        var kiosks: [FleetStatus.Kiosk] = []
        for try await (name, seen, address, revoked, sessions) in try await query("""
            SELECT k.name, k.last_seen_at, k.last_address, k.revoked_at IS NOT NULL,
                   (SELECT count(*)::int FROM session_summaries s WHERE s.kiosk = k.id AND s.day BETWEEN \(from)::date AND \(to)::date)
            FROM kiosks k ORDER BY k.name LIMIT 2000
            """).decode((String, Date?, String?, Bool, Int).self) {
            kiosks.append(FleetStatus.Kiosk(name: name, lastSeenAt: seen, lastAddress: address, revoked: revoked, sessions: sessions))
        }

        var head: Int64 = 0
        for try await seq in try await query("SELECT coalesce(max(seq), 0) FROM audit").decode(Int64.self) { head = seq }

        return FleetStatus(queue: .init(byState: byState, oldestQueuedSeconds: oldest, deadLetters: byState["dead"] ?? 0),
                           workers: workers, deliveries: deliveries, batchesByState: batches,
                           batchesWaiting: (batches["committed"] ?? 0) + (batches["processing"] ?? 0), kiosks: kiosks, auditHeadSeq: head)
    }

    private func query(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        try await database.client.query(query, logger: logger)
    }
}
