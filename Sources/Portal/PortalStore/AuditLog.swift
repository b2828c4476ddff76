import Crypto
import Foundation
import Logging
import PostgresNIO

/// The append-only, hash-chained audit table. Each record's hash is SHA-256(previous hash ‖ canonical JSON
/// of the record), computed here rather than in SQL so `verify` needs nothing but the rows. Appends are
/// serialized by an advisory lock so the chain never forks; triggers refuse UPDATE, DELETE and TRUNCATE.
public struct AuditLog: Sendable {
    /// pg_advisory_xact_lock key for appends ("PORTALAU").
    static let lockKey: Int64 = 0x504F_5254_414C_4155
    static let genesis = Data(repeating: 0, count: 32)
    /// `at` as hashed: UTC, microseconds, a fixed format on both the write and the verify side.
    static func atText(_ expression: String) -> String {
        #"to_char("# + expression + #" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#
    }

    let database: PortalDatabase

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// Appends a record in a transaction of its own; returns its sequence number.
    @discardableResult
    public func append(eventType: String, actor: String, detail: [String: JSONValue]) async throws -> Int64 {
        try await database.transaction { try await append(eventType: eventType, actor: actor, detail: detail, on: $0) }
    }

    /// Appends inside the caller's transaction: the record exists only if the change it describes commits.
    @discardableResult
    public func append(eventType: String, actor: String, detail: [String: JSONValue], on connection: PostgresConnection) async throws -> Int64 {
        let logger = database.logger
        try await connection.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
        let head = try await connection.query(PostgresQuery(unsafeSQL: """
            SELECT nextval(pg_get_serial_sequence('audit', 'seq')), \(Self.atText("now()")),
                   (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1)
            """), logger: logger)
        var seq: Int64 = 0
        var at = ""
        var previous = Self.genesis
        for try await (next, now, last) in head.decode((Int64, String, Data?).self) {
            seq = next
            at = now
            previous = last ?? Self.genesis
        }
        let detailValue = JSONValue.object(detail)
        let hash = Self.hash(previous: previous, seq: seq, at: at, eventType: eventType, actor: actor, detail: detailValue)
        try await connection.query("""
            INSERT INTO audit (seq, at, event_type, actor, detail, prev_hash, hash)
            VALUES (\(seq), \(at)::timestamptz, \(eventType), \(actor), \(detailValue.canonical)::jsonb, \(previous), \(hash))
            """, logger: logger)
        return seq
    }

    /// Recomputes the chain from the first record. A deleted or altered record shows as the first record
    /// whose stored hashes disagree; removing records from the end leaves no trace in the chain itself.
    public func verify() async throws -> AuditVerification {
        let rows = try await database.client.query(PostgresQuery(unsafeSQL: """
            SELECT seq, \(Self.atText("at")), event_type, actor, detail::text, prev_hash, hash
            FROM audit ORDER BY seq
            """), logger: database.logger)
        var expectedPrevious = Self.genesis
        var count = 0
        for try await (seq, at, eventType, actor, detail, previous, stored) in rows.decode((Int64, String, String, String, String, Data, Data).self) {
            guard previous == expectedPrevious else { return .altered(seq: seq, reason: "its link to the previous record is broken") }
            guard let detailValue = try? JSONValue.parse(detail) else { return .altered(seq: seq, reason: "its detail is not JSON") }
            let hash = Self.hash(previous: previous, seq: seq, at: at, eventType: eventType, actor: actor, detail: detailValue)
            guard hash == stored else { return .altered(seq: seq, reason: "its content does not match its hash") }
            expectedPrevious = stored
            count += 1
        }
        return .intact(records: count)
    }

    static func hash(previous: Data, seq: Int64, at: String, eventType: String, actor: String, detail: JSONValue) -> Data {
        let record = JSONValue.object([
            "seq": .integer(seq), "at": .string(at), "event_type": .string(eventType), "actor": .string(actor), "detail": detail,
        ])
        var hasher = SHA256()
        hasher.update(data: previous)
        hasher.update(data: Data(record.canonical.utf8))
        return Data(hasher.finalize())
    }
}

public enum AuditVerification: Sendable, Equatable, CustomStringConvertible {
    case intact(records: Int)
    case altered(seq: Int64, reason: String)

    public var description: String {
        switch self {
        case .intact(let records): "audit chain intact (\(records) records)"
        case .altered(let seq, let reason): "audit record \(seq) was altered: \(reason)"
        }
    }
}
