import GRDB

extension EdgeStore {
    /// Browser sessions per state, for the edge's metrics.
    func sessionsByState() async throws -> [String: Int] {
        try await pool.read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, count(*) AS n FROM sessions GROUP BY state") {
                counts[row["state"] as String? ?? ""] = row["n"] as Int? ?? 0
            }
            return counts
        }
    }
}
