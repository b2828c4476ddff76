import Foundation
import Logging
import PortalProtocol
import PostgresNIO

extension AuditEvent {
    /// A kiosk session's audit trail segment, checked against its signed checkpoint when its manifest was stored.
    public static let kioskTrailVerified = "kiosk.trail-verified"
    public static let kioskTrailUnsigned = "kiosk.trail-unsigned"
    public static let kioskTrailFailed = "kiosk.trail-failed"
}

/// How a kiosk session's trail segment fared (`kiosk_audit`).
public struct KioskTrailVerdict: Sendable, Equatable, Codable {
    public enum Outcome: String, Sendable, Codable { case verified, unsigned, failed }

    public var outcome: Outcome
    /// What failed, for `.failed`; why nothing could be checked, for `.unsigned`.
    public var problem: String?
    public var firstSeq: Int64?
    public var lastSeq: Int64?
    public var checkpointSeq: Int64?

    public init(outcome: Outcome, problem: String? = nil, firstSeq: Int64? = nil, lastSeq: Int64? = nil, checkpointSeq: Int64? = nil) {
        self.outcome = outcome; self.problem = problem; self.firstSeq = firstSeq; self.lastSeq = lastSeq; self.checkpointSeq = checkpointSeq
    }
}

/// Per kiosk, how many of its segments verified, came unsigned or failed, and the latest failure.
public struct KioskTrailSummary: Sendable, Equatable, Codable {
    public var kiosk: String
    public var verified: Int
    public var unsigned: Int
    public var failed: Int
    public var lastProblem: String?
    public var lastVerifiedSeq: Int64?
}

/// The kiosks' audit trail segments, checked as their manifests are stored. The kiosk's audit key is pinned at the
/// first one it sends (that manifest is signed with the kiosk's certificate key, so the key is the kiosk's); a later
/// different key fails the segment rather than replacing the pin. Sequence numbers must move past the last verified
/// segment, so an older segment sent again does not pass for a new one. The outcome never holds a batch back: its
/// verdicts are made again by the worker anyway; a failure is visible in the console and the audit table.
public struct KioskTrails: Sendable {
    let database: PortalDatabase

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// Checks and records the segment of `batch`'s manifest, once: a manifest replayed gets the verdict made the
    /// first time. `auditKey` is the manifest's base64 Ed25519 key; `trail` nil or empty is an unsigned segment.
    @discardableResult
    public func record(batch: UUID, kiosk: String, trail: [String]?, auditKey: String?) async throws -> KioskTrailVerdict {
        let logger = database.logger
        return try await database.transaction { connection in
            if let existing = try await segment(batch: batch, on: connection) { return existing }
            var found: (Int64, String?, Int64?)?
            for try await row in try await connection.query("""
                SELECT id, audit_public_key, audit_last_seq FROM kiosks WHERE name = \(kiosk) FOR UPDATE
                """, logger: logger).decode((Int64, String?, Int64?).self) { found = row }
            guard let (kioskID, pinned, lastSeq) = found else { throw KioskRecordError.unknown(kiosk) }
            let verdict = Self.judge(trail: trail ?? [], auditKey: auditKey, pinned: pinned, lastSeq: lastSeq)
            let records = String(decoding: try JSONEncoder().encode(trail ?? []), as: UTF8.self)
            try await connection.query("""
                INSERT INTO kiosk_audit (batch, kiosk, first_seq, last_seq, checkpoint_seq, outcome, problem, records)
                VALUES (\(batch), \(kioskID), \(verdict.firstSeq), \(verdict.lastSeq), \(verdict.checkpointSeq),
                        \(verdict.outcome.rawValue), \(verdict.problem), \(records)::jsonb)
                """, logger: logger)
            if verdict.outcome == .verified {
                // The pin is set once; the position only moves forward (judge refused anything not past it).
                try await connection.query("""
                    UPDATE kiosks SET audit_public_key = COALESCE(audit_public_key, \(auditKey)), audit_last_seq = \(verdict.lastSeq)
                    WHERE id = \(kioskID)
                    """, logger: logger)
            }
            var detail: [String: JSONValue] = ["kiosk": .string(kiosk), "batch": .string(batch.uuidString.lowercased())]
            if let first = verdict.firstSeq { detail["first_seq"] = .integer(first) }
            if let last = verdict.lastSeq { detail["last_seq"] = .integer(last) }
            if let problem = verdict.problem { detail["problem"] = .string(problem) }
            let event = switch verdict.outcome {
            case .verified: AuditEvent.kioskTrailVerified
            case .unsigned: AuditEvent.kioskTrailUnsigned
            case .failed: AuditEvent.kioskTrailFailed
            }
            try await AuditLog(database).append(eventType: event, actor: "core", detail: detail, on: connection)
            return verdict
        }
    }

    /// The verdict on a segment, from its lines, the key it came with, the key pinned and the last verified position.
    static func judge(trail: [String], auditKey: String?, pinned: String?, lastSeq: Int64?) -> KioskTrailVerdict {
        guard !trail.isEmpty else {
            return KioskTrailVerdict(outcome: .unsigned, problem: "the manifest carries no audit trail segment")
        }
        if let pinned, let auditKey, pinned != auditKey {
            return KioskTrailVerdict(outcome: .failed, problem: "the kiosk's audit key changed: the manifest's key is not the one pinned at its first signed segment")
        }
        let keyText = pinned ?? auditKey
        guard let keyText else {
            return KioskTrailVerdict(outcome: .unsigned, problem: "the kiosk sent no audit key: the chain cannot be tied to the kiosk")
        }
        guard let key = Data(base64Encoded: keyText) else { return KioskTrailVerdict(outcome: .failed, problem: "\(KioskTrailProblem.badKey)") }
        let segment: KioskTrail.Segment
        do { segment = try KioskTrail.verify(trail, publicKey: key) } catch {
            return KioskTrailVerdict(outcome: .failed, problem: "\(error)")
        }
        var verdict = KioskTrailVerdict(outcome: .verified, firstSeq: segment.firstSeq, lastSeq: segment.lastSeq, checkpointSeq: segment.checkpointSeq)
        if let lastSeq, segment.firstSeq <= lastSeq {
            verdict.outcome = .failed
            verdict.problem = "records \(segment.firstSeq)...\(segment.lastSeq) are not past record \(lastSeq), the last verified: an older segment was sent again"
        } else if segment.checkpointSeq == nil {
            verdict.outcome = .failed
            verdict.problem = "the segment does not end with a signed checkpoint"
        }
        return verdict
    }

    public func segment(batch: UUID) async throws -> KioskTrailVerdict? {
        try await database.client.withConnection { try await segment(batch: batch, on: $0) }
    }

    func segment(batch: UUID, on connection: PostgresConnection) async throws -> KioskTrailVerdict? {
        for try await (outcome, problem, first, last, checkpoint) in try await connection.query("""
            SELECT outcome, problem, first_seq, last_seq, checkpoint_seq FROM kiosk_audit WHERE batch = \(batch)
            """, logger: database.logger).decode((String, String?, Int64?, Int64?, Int64?).self) {
            return KioskTrailVerdict(outcome: KioskTrailVerdict.Outcome(rawValue: outcome) ?? .failed, problem: problem,
                                     firstSeq: first, lastSeq: last, checkpointSeq: checkpoint)
        }
        return nil
    }

    /// Every kiosk that sent a segment, by name.
    public func summary() async throws -> [KioskTrailSummary] {
        let rows = try await database.client.query("""
            SELECT k.name,
                   count(*) FILTER (WHERE a.outcome = 'verified'),
                   count(*) FILTER (WHERE a.outcome = 'unsigned'),
                   count(*) FILTER (WHERE a.outcome = 'failed'),
                   (SELECT f.problem FROM kiosk_audit f WHERE f.kiosk = k.id AND f.outcome = 'failed' ORDER BY f.received_at DESC LIMIT 1),
                   k.audit_last_seq
            FROM kiosk_audit a JOIN kiosks k ON k.id = a.kiosk
            GROUP BY k.id, k.name, k.audit_last_seq ORDER BY k.name
            """, logger: database.logger)
        var out: [KioskTrailSummary] = []
        for try await (name, verified, unsigned, failed, problem, last) in rows.decode((String, Int64, Int64, Int64, String?, Int64?).self) {
            out.append(KioskTrailSummary(kiosk: name, verified: Int(verified), unsigned: Int(unsigned), failed: Int(failed),
                                         lastProblem: problem, lastVerifiedSeq: last))
        }
        return out
    }
}
