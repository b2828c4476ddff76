import Foundation
import Logging
import PostgresNIO

/// The work queue: rows of `jobs`, claimed with `FOR UPDATE SKIP LOCKED` under a lease a live worker renews.
/// Idle workers wait on LISTEN `portal_jobs`, which every enqueue notifies at commit.
public struct JobQueue: Sendable {
    public static let channel = "portal_jobs"
    /// Back-off after the n-th failure: 2^n seconds, at most an hour.
    public static let maximumBackoffSeconds = 3600

    let database: PortalDatabase

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    private var logger: Logger { database.logger }

    /// Enqueues in a transaction of its own.
    @discardableResult
    public func enqueue(_ job: NewJob) async throws -> Int64 {
        try await database.transaction { try await enqueue(job, on: $0) }
    }

    /// Enqueues inside the caller's transaction: the job exists, and workers hear of it, only if that commits.
    @discardableResult
    public func enqueue(_ job: NewJob, on connection: PostgresConnection) async throws -> Int64 {
        let rows = try await connection.query("""
            INSERT INTO jobs (kind, batch, payload, max_attempts, run_after)
            VALUES (\(job.kind), \(job.batch), \(job.payloadJSON)::jsonb, \(job.maxAttempts), now() + make_interval(secs => \(job.delay)))
            RETURNING id
            """, logger: logger)
        var id: Int64 = 0
        for try await value in rows.decode(Int64.self) { id = value }
        try await connection.query("SELECT pg_notify(\(Self.channel), \(job.kind))", logger: logger)
        return id
    }

    /// Claims a running job whose lease expired (work a dead worker left, taken back first), else the next due
    /// job of one of `kinds` (any kind when empty). Each half is its own subquery so it walks its own partial
    /// index (`jobs_leased`, `jobs_queued`): one query with an OR over both states scanned and sorted the whole
    /// table on every claim. A job whose lease expired on its last attempt goes to the dead-letter state
    /// instead, and the claim looks further.
    public func claim(worker: String, kinds: [String] = [], lease seconds: Double) async throws -> ClaimedJob? {
        while true {
            let rows = try await database.client.query("""
                UPDATE jobs SET
                    state = CASE WHEN state = 'running' AND attempts >= max_attempts THEN 'dead' ELSE 'running' END,
                    attempts = CASE WHEN state = 'running' AND attempts >= max_attempts THEN attempts ELSE attempts + 1 END,
                    lease_owner = CASE WHEN state = 'running' AND attempts >= max_attempts THEN NULL ELSE \(worker) END,
                    lease_expires_at = CASE WHEN state = 'running' AND attempts >= max_attempts THEN NULL
                                            ELSE now() + make_interval(secs => \(seconds)) END,
                    last_error = CASE WHEN state = 'running' THEN 'lease of ' || lease_owner || ' expired' ELSE last_error END,
                    updated_at = now()
                WHERE id = COALESCE(
                    (SELECT id FROM jobs
                     WHERE state = 'running' AND lease_expires_at < now()
                       AND (cardinality(\(kinds)::text[]) = 0 OR kind = ANY(\(kinds)::text[]))
                     ORDER BY lease_expires_at
                     FOR UPDATE SKIP LOCKED
                     LIMIT 1),
                    (SELECT id FROM jobs
                     WHERE state = 'queued' AND run_after <= now()
                       AND (cardinality(\(kinds)::text[]) = 0 OR kind = ANY(\(kinds)::text[]))
                     ORDER BY run_after, id
                     FOR UPDATE SKIP LOCKED
                     LIMIT 1))
                RETURNING id, kind, batch, payload::text, attempts, max_attempts, state
                """, logger: logger)
            var claimed: ClaimedJob?
            var found = false
            for try await (id, kind, batch, payload, attempts, maxAttempts, state) in rows.decode((Int64, String, UUID?, String, Int, Int, String).self) {
                found = true
                if state == "dead" {
                    logger.warning("job dead: its lease expired on the last attempt", metadata: ["job": "\(id)", "kind": "\(kind)"])
                } else {
                    claimed = ClaimedJob(id: id, kind: kind, batch: batch, payloadJSON: payload, attempt: attempts, maxAttempts: maxAttempts,
                                         lease: Lease(jobID: id, worker: worker, attempt: attempts))
                }
            }
            if claimed != nil || !found { return claimed }
        }
    }

    /// Extends the lease. False when it was lost (expired and claimed elsewhere): the worker must stop.
    public func renew(_ lease: Lease, for seconds: Double) async throws -> Bool {
        try await returnsRow("""
            UPDATE jobs SET lease_expires_at = now() + make_interval(secs => \(seconds)), updated_at = now()
            WHERE id = \(lease.jobID) AND state = 'running' AND lease_owner = \(lease.worker) AND attempts = \(lease.attempt)
            RETURNING id
            """)
    }

    /// Marks the job done.
    public func complete(_ lease: Lease) async throws {
        guard try await returnsRow("""
            UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE id = \(lease.jobID) AND state = 'running' AND lease_owner = \(lease.worker) AND attempts = \(lease.attempt)
            RETURNING id
            """) else { throw JobQueueError.leaseLost(jobID: lease.jobID) }
    }

    /// Records a failure: the job runs again after a back-off of 2^attempts seconds (capped), or goes to the
    /// dead-letter state after its last attempt, or at once when `permanent`.
    public func fail(_ lease: Lease, error: String, permanent: Bool = false) async throws {
        let rows = try await database.client.query("""
            UPDATE jobs SET
                state = CASE WHEN \(permanent) OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                run_after = now() + make_interval(secs => least(power(2, attempts), \(Self.maximumBackoffSeconds))),
                lease_owner = NULL, lease_expires_at = NULL, last_error = \(error), updated_at = now()
            WHERE id = \(lease.jobID) AND state = 'running' AND lease_owner = \(lease.worker) AND attempts = \(lease.attempt)
            RETURNING state
            """, logger: logger)
        var state: String?
        for try await value in rows.decode(String.self) { state = value }
        guard let state else { throw JobQueueError.leaseLost(jobID: lease.jobID) }
        if state == "dead" {
            logger.warning("job dead after its last attempt", metadata: ["job": "\(lease.jobID)", "attempt": "\(lease.attempt)"])
        }
    }

    /// The dead-letter list, most recent first.
    public func deadJobs(limit: Int = 100) async throws -> [DeadJob] {
        let rows = try await database.client.query("""
            SELECT id, kind, attempts, last_error, updated_at FROM jobs WHERE state = 'dead' ORDER BY updated_at DESC, id DESC LIMIT \(limit)
            """, logger: logger)
        var jobs: [DeadJob] = []
        for try await (id, kind, attempts, lastError, diedAt) in rows.decode((Int64, String, Int, String?, Date).self) {
            jobs.append(DeadJob(id: id, kind: kind, attempts: attempts, lastError: lastError, diedAt: diedAt))
        }
        return jobs
    }

    /// Puts a dead job back on the queue with a fresh set of attempts (an administrator's decision).
    public func requeue(deadJob id: Int64) async throws {
        let kind = try await database.transaction { connection in
            let rows = try await connection.query("""
                UPDATE jobs SET state = 'queued', attempts = 0, run_after = now(), updated_at = now()
                WHERE id = \(id) AND state = 'dead' RETURNING kind
                """, logger: logger)
            var kind: String?
            for try await value in rows.decode(String.self) { kind = value }
            guard let kind else { throw JobQueueError.notDead(jobID: id) }
            try await connection.query("SELECT pg_notify(\(Self.channel), \(kind))", logger: logger)
            return kind
        }
        logger.info("dead job requeued", metadata: ["job": "\(id)", "kind": "\(kind)"])
    }

    /// Wake-ups for an idle worker: a notification per enqueue, `.listening` whenever LISTEN is (re)established,
    /// and `.poll` every `pollInterval`. LISTEN holds one pooled connection and is re-established after the
    /// server restarts. Ends when the consumer stops iterating.
    public func wakeUps(pollInterval: Duration = .seconds(30), retryInterval: Duration = .seconds(1)) -> AsyncStream<WakeUp> {
        let (stream, continuation) = AsyncStream.makeStream(of: WakeUp.self, bufferingPolicy: .bufferingNewest(64))
        let client = database.client
        let logger = logger
        let listener = Task {
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.channel) { notifications in
                            continuation.yield(.listening)
                            for try await notification in notifications {
                                continuation.yield(.enqueued(kind: notification.payload))
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.debug("job listener lost its connection; retrying", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: retryInterval)
            }
        }
        let poller = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: pollInterval)
                if Task.isCancelled { break }
                continuation.yield(.poll)
            }
        }
        continuation.onTermination = { _ in
            listener.cancel()
            poller.cancel()
        }
        return stream
    }

    private func returnsRow(_ query: PostgresQuery) async throws -> Bool {
        var found = false
        for try await _ in try await database.client.query(query, logger: logger) { found = true }
        return found
    }
}
