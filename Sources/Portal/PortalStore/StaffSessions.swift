import Foundation
import Logging
import PostgresNIO

/// A console browser session as stored in `staff_sessions`: only the cookie's SHA-256, how far it is signed in,
/// its CSRF token and the pending WebAuthn challenge. Times come from the server's clock, not the database's.
public struct StaffSessionRecord: Sendable, Equatable {
    public var digest: Data
    public var state: String
    public var csrf: String
    public var staffID: Int64?
    public var challenge: Data?
    public var challengePurpose: String?
    public var challengeExpiresAt: Date?
    public var createdAt: Date
    public var lastSeenAt: Date
    public var authenticatedAt: Date?
    public var secondFactorAt: Date?

    public init(digest: Data, state: String, csrf: String, staffID: Int64?, challenge: Data?, challengePurpose: String?,
                challengeExpiresAt: Date?, createdAt: Date, lastSeenAt: Date, authenticatedAt: Date?, secondFactorAt: Date?) {
        self.digest = digest; self.state = state; self.csrf = csrf; self.staffID = staffID; self.challenge = challenge
        self.challengePurpose = challengePurpose; self.challengeExpiresAt = challengeExpiresAt; self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt; self.authenticatedAt = authenticatedAt; self.secondFactorAt = secondFactorAt
    }
}

/// `staff_sessions` and `staff_throttles`.
public struct StaffSessionStore: Sendable {
    let database: PortalDatabase
    private var logger: Logger { database.logger }

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// Inserts or updates `record`; with `replacing`, the row under that digest goes in the same transaction (a
    /// rotation: the old id is worthless from now on).
    public func save(_ record: StaffSessionRecord, address: String?, replacing old: Data? = nil) async throws {
        try await database.transaction { connection in
            if let old, old != record.digest {
                try await connection.query("DELETE FROM staff_sessions WHERE digest = \(old)", logger: logger)
            }
            try await connection.query("""
                INSERT INTO staff_sessions (digest, staff, state, csrf, challenge, challenge_purpose, challenge_expires_at, address,
                                            created_at, last_seen_at, authenticated_at, second_factor_at)
                VALUES (\(record.digest), \(record.staffID), \(record.state), \(record.csrf), \(record.challenge), \(record.challengePurpose),
                        \(record.challengeExpiresAt), \(address), \(record.createdAt), \(record.lastSeenAt), \(record.authenticatedAt),
                        \(record.secondFactorAt))
                ON CONFLICT (digest) DO UPDATE SET staff = excluded.staff, state = excluded.state, csrf = excluded.csrf,
                    challenge = excluded.challenge, challenge_purpose = excluded.challenge_purpose,
                    challenge_expires_at = excluded.challenge_expires_at, address = excluded.address,
                    last_seen_at = excluded.last_seen_at, authenticated_at = excluded.authenticated_at,
                    second_factor_at = excluded.second_factor_at
                """, logger: logger)
        }
    }

    public func session(digest: Data) async throws -> StaffSessionRecord? {
        let rows = try await database.client.query("""
            SELECT digest, state, csrf, staff, challenge, challenge_purpose, challenge_expires_at, created_at, last_seen_at,
                   authenticated_at, second_factor_at
            FROM staff_sessions WHERE digest = \(digest)
            """, logger: logger)
        for try await row in rows.decode((Data, String, String, Int64?, Data?, String?, Date?, Date, Date, Date?, Date?).self) {
            return StaffSessionRecord(digest: row.0, state: row.1, csrf: row.2, staffID: row.3, challenge: row.4, challengePurpose: row.5,
                                      challengeExpiresAt: row.6, createdAt: row.7, lastSeenAt: row.8, authenticatedAt: row.9,
                                      secondFactorAt: row.10)
        }
        return nil
    }

    public func touch(_ digest: Data, now: Date) async throws {
        try await database.client.query("UPDATE staff_sessions SET last_seen_at = \(now) WHERE digest = \(digest)", logger: logger)
    }

    public func delete(_ digest: Data) async throws {
        try await database.client.query("DELETE FROM staff_sessions WHERE digest = \(digest)", logger: logger)
    }

    /// Takes the session's challenge for `purpose` if it has not expired; it cannot be taken twice.
    public func takeChallenge(_ digest: Data, purpose: String, now: Date) async throws -> Data? {
        var taken: Data?
        for try await (challenge, expires) in try await database.client.query("""
            UPDATE staff_sessions s SET challenge = NULL, challenge_purpose = NULL, challenge_expires_at = NULL
            FROM (SELECT digest, challenge, challenge_expires_at FROM staff_sessions
                  WHERE digest = \(digest) AND challenge_purpose = \(purpose) FOR UPDATE) old
            WHERE s.digest = old.digest
            RETURNING old.challenge, old.challenge_expires_at
            """, logger: logger).decode((Data?, Date?).self) {
            if let challenge, let expires, expires > now { taken = challenge }
        }
        return taken
    }

    /// Removes sessions idle longer than `idle`, signed in longer than `absolute`, or unfinished longer than
    /// `unauthenticated`; returns how many.
    @discardableResult
    public func expire(idle: TimeInterval, absolute: TimeInterval, unauthenticated: TimeInterval, now: Date) async throws -> Int {
        var count = 0
        for try await _ in try await database.client.query("""
            DELETE FROM staff_sessions
            WHERE last_seen_at < \(now.addingTimeInterval(-idle))
               OR (state = 'signed-in' AND coalesce(authenticated_at, created_at) < \(now.addingTimeInterval(-absolute)))
               OR (state <> 'signed-in' AND created_at < \(now.addingTimeInterval(-unauthenticated)))
            RETURNING digest
            """, logger: logger) { count += 1 }
        return count
    }

    // MARK: Throttles

    /// Failures counted under `key` and when the last was.
    public func throttle(_ key: String) async throws -> (failures: Int, last: Date)? {
        for try await (failures, last) in try await database.client.query("""
            SELECT failures, updated_at FROM staff_throttles WHERE key = \(key)
            """, logger: logger).decode((Int32, Date).self) {
            return (Int(failures), last)
        }
        return nil
    }

    /// Counts a failure under `key`; `blockedUntil` (given the new count) is kept beside it for operators to see.
    public func recordFailure(_ key: String, now: Date, blockedUntil: @Sendable (Int) -> Date?) async throws {
        try await database.transaction { connection in
            var count = 1
            for try await failures in try await connection.query("""
                INSERT INTO staff_throttles (key, failures, updated_at) VALUES (\(key), 1, \(now))
                ON CONFLICT (key) DO UPDATE SET failures = staff_throttles.failures + 1, updated_at = excluded.updated_at
                RETURNING failures
                """, logger: logger).decode(Int32.self) { count = Int(failures) }
            try await connection.query("UPDATE staff_throttles SET blocked_until = \(blockedUntil(count)) WHERE key = \(key)", logger: logger)
        }
    }

    public func clearFailures(_ key: String) async throws {
        try await database.client.query("DELETE FROM staff_throttles WHERE key = \(key)", logger: logger)
    }

    public func expireThrottles(olderThan age: TimeInterval, now: Date) async throws {
        try await database.client.query("DELETE FROM staff_throttles WHERE updated_at < \(now.addingTimeInterval(-age))", logger: logger)
    }
}
