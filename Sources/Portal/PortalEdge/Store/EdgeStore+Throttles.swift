import Foundation
import GRDB

extension EdgeStore {
    /// Failures recorded under `key` and when the last one was.
    func throttle(_ key: String) async throws -> (failures: Int, last: Date)? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT failures, last_failure_at FROM throttles WHERE key = ?", arguments: [key]).map {
                ($0["failures"], Date(stored: $0["last_failure_at"]))
            }
        }
    }

    func recordFailure(_ keys: [String], now: Date) async throws {
        try await pool.write { db in
            for key in keys {
                try db.execute(sql: """
                    INSERT INTO throttles (key, failures, last_failure_at) VALUES (?, 1, ?)
                    ON CONFLICT (key) DO UPDATE SET failures = failures + 1, last_failure_at = excluded.last_failure_at
                    """, arguments: [key, now.stored])
            }
        }
    }

    func clearFailures(_ key: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM throttles WHERE key = ?", arguments: [key]) }
    }

    /// Forgets throttles whose last failure is older than `age`.
    func expireThrottles(olderThan age: TimeInterval, now: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM throttles WHERE last_failure_at < ?", arguments: [now.stored - age])
        }
    }
}
