import Foundation
import Logging
import PostgresNIO

/// An audit record waiting for the ATNA repository, with the registered patient it concerns (named, or through its
/// batch) and the studies of that batch as the worker found them.
public struct ATNAPending: Sendable, Equatable {
    public var entry: AuditEntry
    public var patientID: String?
    public var patientIssuer: String?
    public var patientName: String?
    public var studies: [String]
}

/// The central audit table as the ATNA forwarder's queue: `atna_forwarding.last_seq` is the last record the
/// repository took. It moves only after a batch of messages went out, so a record is sent at least once, and
/// whatever was recorded while the repository was away goes at the next attempt, from any core process.
public struct ATNAQueue: Sendable {
    let database: PortalDatabase

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// The last record forwarded; 0 before the first.
    public func position() async throws -> Int64 {
        for try await seq in try await database.client.query("SELECT last_seq FROM atna_forwarding", logger: database.logger).decode(Int64.self) {
            return seq
        }
        return 0
    }

    /// Records past the position, oldest first, at most `limit`.
    public func pending(limit: Int) async throws -> [ATNAPending] {
        let position = try await position()
        let rows = try await database.client.query("""
            SELECT a.seq, a.at, a.event_type, a.actor, a.detail::text, p.patient_id, p.issuer, p.name,
                   COALESCE((SELECT array_agg(s->>'studyInstanceUID') FROM jsonb_array_elements(
                       CASE WHEN jsonb_typeof(b.report->'studies') = 'array' THEN b.report->'studies' ELSE '[]'::jsonb END) s
                       WHERE s ? 'studyInstanceUID'), '{}')
            FROM audit a
            LEFT JOIN batches b ON a.detail ? 'batch' AND b.id::text = a.detail->>'batch'
            LEFT JOIN patients p ON p.id = COALESCE(
                CASE WHEN a.detail->>'patient' ~ '^[0-9]{1,18}$' THEN (a.detail->>'patient')::bigint END, b.assigned_patient, b.patient)
            WHERE a.seq > \(position) ORDER BY a.seq LIMIT \(Int64(max(1, limit)))
            """, logger: database.logger)
        var out: [ATNAPending] = []
        for try await (seq, at, type, actor, detail, id, issuer, name, studies)
            in rows.decode((Int64, Date, String, String, String, String?, String?, String?, [String]).self) {
            let entry = AuditEntry(seq: seq, at: at, eventType: type, actor: actor, detail: (try? JSONValue.parse(detail)) ?? .string(detail))
            out.append(ATNAPending(entry: entry, patientID: id, patientIssuer: issuer, patientName: name, studies: studies))
        }
        return out
    }

    /// Records after the position.
    public func queued() async throws -> Int64 {
        let position = try await position()
        for try await count in try await database.client.query("SELECT count(*) FROM audit WHERE seq > \(position)",
                                                               logger: database.logger).decode(Int64.self) { return count }
        return 0
    }

    /// Moves the position to `seq` (never back: two core processes forwarding at once only repeat messages).
    public func advance(to seq: Int64) async throws {
        try await database.client.query("""
            INSERT INTO atna_forwarding (single, last_seq) VALUES (true, \(seq))
            ON CONFLICT (single) DO UPDATE SET last_seq = GREATEST(atna_forwarding.last_seq, EXCLUDED.last_seq)
            """, logger: database.logger)
    }
}
