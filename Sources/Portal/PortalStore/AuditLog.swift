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

    /// The last record's sequence number and hash; nil while the table is empty.
    public func head() async throws -> (seq: Int64, hash: Data)? {
        for try await (seq, hash) in try await database.client.query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                                                                     logger: database.logger).decode((Int64, Data).self) {
            return (seq, hash)
        }
        return nil
    }

    /// Writes the head to `anchors` when it moved since the last anchor; returns whether it wrote one.
    @discardableResult
    public func anchor(to anchors: AuditAnchors) async throws -> Bool {
        guard let head = try await head() else { return false }
        if let last = try anchors.last(), last.seq == head.seq, last.hash == head.hash { return false }
        try anchors.append(seq: head.seq, hash: head.hash)
        return true
    }

    /// Recomputes the chain from the first record. A deleted or altered record shows as the first record
    /// whose stored hashes disagree. Records removed from the end leave no trace in the chain itself: `anchors`
    /// (heads copied outside the database) show them, back to the last anchor.
    public func verify(anchors: [AuditAnchors.Anchor] = []) async throws -> AuditVerification {
        let anchored = Dictionary(anchors.map { ($0.seq, $0.hash) }, uniquingKeysWith: { first, _ in first })
        var lastSeq: Int64 = 0
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
            if let kept = anchored[seq], kept != stored {
                return .altered(seq: seq, reason: "it differs from the anchor kept outside the database")
            }
            expectedPrevious = stored
            lastSeq = seq
            count += 1
        }
        if let latest = anchors.map(\.seq).max(), latest > lastSeq {
            return .truncated(lastSeq: lastSeq, anchoredSeq: latest)
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
    /// The chain ends at `lastSeq` but an anchor outside the database names record `anchoredSeq`: records were
    /// removed from its end.
    case truncated(lastSeq: Int64, anchoredSeq: Int64)

    public var description: String {
        switch self {
        case .intact(let records): "audit chain intact (\(records) records)"
        case .altered(let seq, let reason): "audit record \(seq) was altered: \(reason)"
        case .truncated(let last, let anchored):
            "audit records were removed from the end: the chain ends at record \(last), but record \(anchored) was anchored outside the database"
        }
    }
}
