import Foundation
import GRDB

/// A security event core takes into its audit chain: what happened, to which patient, from which address.
public struct EdgeEvent: Sendable, Equatable, Codable {
    public let seq: Int64
    public let at: Date
    public let type: String
    public let patient: String?
    public let address: String?
    public let detail: [String: String]
}

extension EdgeStore {
    public func record(_ type: String, patient: String?, address: String?, detail: [String: String] = [:], now: Date = Date()) async throws {
        let json = String(decoding: try JSONEncoder.sorted.encode(detail), as: UTF8.self)
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO events (at, type, patient, address, detail) VALUES (?, ?, ?, ?, ?)",
                           arguments: [now.stored, type, patient, address, json])
        }
        metrics.observe(type)
    }

    /// Forgets events core has taken (it asks for those after `seq` only once it holds them) that are older than
    /// `age`: the edge is not the record, core's audit chain is.
    public func pruneEvents(takenUpTo seq: Int64, olderThan age: TimeInterval, now: Date = Date()) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM events WHERE seq <= ? AND at < ?", arguments: [seq, now.stored - age])
        }
    }

    /// Events after `seq`, oldest first, at most `limit`.
    public func events(after seq: Int64, limit: Int) async throws -> [EdgeEvent] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]).map { row in
                let detail = (try? JSONDecoder().decode([String: String].self, from: Data((row["detail"] as String).utf8))) ?? [:]
                return EdgeEvent(seq: row["seq"], at: Date(stored: row["at"]), type: row["type"], patient: row["patient"],
                                 address: row["address"], detail: detail)
            }
        }
    }
}

extension JSONEncoder {
    static let sorted: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
}
