import Foundation
import Logging
import PostgresNIO

/// An invitation as staff see it: when it was made, sent, taken to the edge, and until when it works.
public struct InvitationRecord: Sendable, Equatable {
    public let id: Int64
    public let createdAt: Date
    public let expiresAt: Date
    public let sentAt: Date?
    public let pushedAt: Date?
    public let revokedAt: Date?
}

/// Where a patient's portal account stands, from core's invitations and the edge's events core took into its audit
/// chain (core learns of an enrolment or a lockout at the link's next poll, not at once).
public enum PatientAccountState: String, Sendable, Codable {
    /// Never invited.
    case none
    /// An invitation is live and unexpired, not yet used as far as core knows.
    case pending
    /// The live invitation's time ran out unused.
    case expired
    /// The last invitation was revoked (by staff, or because its e-mail could not be sent).
    case revoked
    /// The edge reported the enrolment.
    case enrolled
    /// Staff reset the second factor after the enrolment: a new invitation is needed.
    case reset
}

/// A registered patient with their portal account's state, as the console lists them.
public struct PatientSummary: Sendable {
    public let id: Int64
    public let patient: RegisteredPatient
    public let createdAt: Date
    public let state: PatientAccountState
    /// The newest invitation, whatever became of it.
    public let invitation: InvitationRecord?
    public let enrolledAt: Date?
    /// The edge's last word on the account's lock (false also when it never reported one).
    public let locked: Bool
    /// When the edge last took the record; nil while the edge has never had it.
    public let edgePushedAt: Date?
    /// Requests the link has not yet carried to the edge.
    public let unlockRequestedAt: Date?
    public let resetRequestedAt: Date?
}

/// One batch of a patient: an upload through the portal, or a kiosk session whose desk named the patient (or that a
/// reviewer reassigned to them), and what became of it.
public struct PatientUpload: Sendable {
    public let batch: UUID
    /// `portal` or `kiosk`.
    public let source: String
    public let kiosk: String?
    /// open, committed, processing, delivered, held or failed.
    public let state: String
    public let createdAt: Date
    public let committedAt: Date?
    public let processedAt: Date?
    /// From the worker's report totals; nil until a worker wrote one.
    public let files: Int?
    public let dicom: Int?
    public let delivered: Int?
    public let rejected: Int?
    /// Studies whose patient did not match (what a batch is held for).
    public let heldStudies: Int?
    public let reviewState: String?
    public let reviewedBy: String?
    public let reviewedAt: Date?
    public let problems: [String]
}

/// The console's reading of the registry: search with each patient's account state, one patient's page (audited as
/// a view), their invitations and their batches.
public struct PatientDirectory: Sendable {
    public static let maxPageSize = 100

    let database: PortalDatabase
    private var logger: Logger { database.logger }

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// Patients whose Patient ID starts with, or whose name or e-mail address contains, every whitespace-separated
    /// term of `query` (case-insensitive), in name order; with the total matching.
    public func search(_ query: String, offset: Int, limit: Int) async throws -> (patients: [PatientSummary], total: Int) {
        let patterns = query.split(whereSeparator: \.isWhitespace).prefix(8).map { Self.likeEscaped(String($0.prefix(64))) }
        let limit = min(max(limit, 1), Self.maxPageSize)
        let offset = max(offset, 0)
        var total = 0
        var patients: [PatientSummary] = []
        let rows = try await database.client.query("""
            SELECT \(unescaped: Self.columns), count(*) OVER ()::int
            FROM patients p \(unescaped: Self.joins)
            WHERE NOT EXISTS (SELECT 1 FROM unnest(\(patterns)::text[]) AS t(pattern) WHERE NOT (
                p.patient_id ILIKE t.pattern || '%' OR p.name ILIKE '%' || t.pattern || '%' OR coalesce(p.email, '') ILIKE '%' || t.pattern || '%'))
            ORDER BY p.name, p.patient_id, p.id
            LIMIT \(limit) OFFSET \(offset)
            """, logger: logger)
        for try await row in rows {
            patients.append(try Self.summary(row))
            total = try row.makeRandomAccess()[Self.columnCount].decode(Int.self)
        }
        if patients.isEmpty && offset > 0 {
            // Past the end: the total still tells the page how many there are.
            for try await count in try await database.client.query("""
                SELECT count(*)::int FROM patients p WHERE NOT EXISTS (SELECT 1 FROM unnest(\(patterns)::text[]) AS t(pattern) WHERE NOT (
                    p.patient_id ILIKE t.pattern || '%' OR p.name ILIKE '%' || t.pattern || '%' OR coalesce(p.email, '') ILIKE '%' || t.pattern || '%'))
                """, logger: logger).decode(Int.self) { total = count }
        }
        return (patients, total)
    }

    /// One patient's summary, or nil.
    public func summary(id: Int64) async throws -> PatientSummary? {
        for try await row in try await database.client.query("""
            SELECT \(unescaped: Self.columns), 0 FROM patients p \(unescaped: Self.joins) WHERE p.id = \(id)
            """, logger: logger) {
            return try Self.summary(row)
        }
        return nil
    }

    /// Records that `actor` opened the patient's page (the per-patient access report reads these); false when there
    /// is no such patient.
    public func recordView(id: Int64, actor: String) async throws -> Bool {
        try await database.transaction { connection in
            var exists = false
            for try await _ in try await connection.query("SELECT 1 FROM patients WHERE id = \(id)", logger: logger) { exists = true }
            guard exists else { return false }
            try await AuditLog(database).append(eventType: AuditEvent.patientViewed, actor: actor, detail: ["patient": .integer(id)], on: connection)
            return true
        }
    }

    /// Every invitation of the patient, newest first.
    public func invitations(patient: Int64) async throws -> [InvitationRecord] {
        var invitations: [InvitationRecord] = []
        for try await (id, created, expires, sent, pushed, revoked) in try await database.client.query("""
            SELECT id, created_at, expires_at, sent_at, pushed_at, revoked_at FROM invitations WHERE patient = \(patient) ORDER BY id DESC LIMIT 200
            """, logger: logger).decode((Int64, Date, Date, Date?, Date?, Date?).self) {
            invitations.append(InvitationRecord(id: id, createdAt: created, expiresAt: expires, sentAt: sent, pushedAt: pushed, revokedAt: revoked))
        }
        return invitations
    }

    /// Every batch of the patient, newest first: theirs from the portal, kiosk sessions whose desk named their Patient
    /// ID (in the worker's report, or before it in the kiosk's manifest), and batches a reviewer reassigned to them.
    public func uploads(patient: Int64, limit: Int = 500) async throws -> [PatientUpload] {
        var uploads: [PatientUpload] = []
        let rows = try await database.client.query("""
            WITH me AS (SELECT id, patient_id FROM patients WHERE id = \(patient)),
            mine AS (
                SELECT b.id FROM batches b, me WHERE b.patient = me.id OR b.assigned_patient = me.id
                UNION SELECT b.id FROM batches b, me WHERE b.kiosk IS NOT NULL AND b.report->'expectedPatient'->>'id' = me.patient_id
                UNION SELECT b.id FROM batches b, me WHERE b.kiosk IS NOT NULL AND b.report IS NULL AND b.manifest IS NOT NULL
                    AND b.state IN ('open', 'committed', 'processing')
                    AND convert_from(b.manifest, 'UTF8')::jsonb->'report'->'expectedPatient'->>'id' = me.patient_id
            )
            SELECT b.id, k.name, b.state, b.created_at, b.committed_at, b.processed_at,
                (b.report->'totals'->>'files')::int, (b.report->'totals'->>'dicom')::int,
                (b.report->'totals'->>'delivered')::int, (b.report->'totals'->>'rejected')::int,
                CASE WHEN jsonb_typeof(b.report->'studies') = 'array' THEN
                    (SELECT count(*)::int FROM jsonb_array_elements(b.report->'studies') s WHERE s->>'identity' = 'mismatch') END,
                b.review_state, b.reviewed_by, b.reviewed_at, b.problems
            FROM batches b JOIN mine ON mine.id = b.id LEFT JOIN kiosks k ON k.id = b.kiosk
            ORDER BY b.created_at DESC LIMIT \(limit)
            """, logger: logger)
        for try await (id, kiosk, state, created, committed, processed, files, dicom, delivered, rejected, held, review, reviewer, reviewedAt, problems)
            in rows.decode((UUID, String?, String, Date, Date?, Date?, Int?, Int?, Int?, Int?, Int?, String?, String?, Date?, [String]).self) {
            uploads.append(PatientUpload(batch: id, source: kiosk == nil ? "portal" : "kiosk", kiosk: kiosk, state: state, createdAt: created,
                                         committedAt: committed, processedAt: processed, files: files, dicom: dicom, delivered: delivered,
                                         rejected: rejected, heldStudies: held, reviewState: review, reviewedBy: reviewer, reviewedAt: reviewedAt,
                                         problems: problems))
        }
        return uploads
    }

    // MARK: -

    /// The edge events (as core's audit chain holds them) that say the account is, or no longer is, locked.
    static let lockEvents = ["edge.account.locked", "edge.account.unlocked", "edge.second-factor.recovery-code-used",
                             "edge.enrolment.completed", "edge.account.second-factor-reset"]

    static let columns = """
        p.id, p.patient_id, p.issuer, p.name, p.birth_date, p.sex, p.email, p.created_at, p.edge_pushed_at,
        p.edge_unlock_requested_at, p.edge_reset_requested_at,
        i.id, i.created_at, i.expires_at, i.sent_at, i.pushed_at, i.revoked_at, coalesce(i.expires_at <= now(), false),
        (SELECT max(a.at) FROM audit a WHERE a.detail ? 'patient' AND a.detail->>'patient' = p.id::text
            AND a.event_type = 'edge.enrolment.completed'),
        (SELECT max(a.at) FROM audit a WHERE a.detail ? 'patient' AND a.detail->>'patient' = p.id::text
            AND a.event_type = '\(AuditEvent.patientSecondFactorReset)'),
        coalesce((SELECT a.event_type = 'edge.account.locked' FROM audit a WHERE a.detail ? 'patient' AND a.detail->>'patient' = p.id::text
            AND a.event_type IN (\(lockEvents.map { "'\($0)'" }.joined(separator: ", "))) ORDER BY a.seq DESC LIMIT 1), false)
        """
    static let columnCount = 21
    static let joins = "LEFT JOIN LATERAL (SELECT * FROM invitations v WHERE v.patient = p.id ORDER BY v.id DESC LIMIT 1) i ON true"

    static func summary(_ row: PostgresRow) throws -> PatientSummary {
        let (id, pid, issuer, name, birth, sex, email, created, pushed, unlock, reset) =
            try row.decode((Int64, String, String, String, String, String?, String?, Date, Date?, Date?, Date?).self)
        let cells = row.makeRandomAccess()
        func cell<T: PostgresDecodable>(_ index: Int, _ type: T.Type) throws -> T { try cells[index].decode(T.self) }
        let invitationID = try cell(11, Int64?.self)
        var invitation: InvitationRecord?
        if let invitationID {
            invitation = InvitationRecord(id: invitationID, createdAt: try cell(12, Date.self), expiresAt: try cell(13, Date.self),
                                          sentAt: try cell(14, Date?.self), pushedAt: try cell(15, Date?.self), revokedAt: try cell(16, Date?.self))
        }
        let expired = try cell(17, Bool.self)
        let enrolledAt = try cell(18, Date?.self)
        let resetAt = try cell(19, Date?.self)
        let locked = try cell(20, Bool.self)
        let enrolled = enrolledAt.map { enrolled in resetAt.map { enrolled > $0 } ?? true } ?? false
        let state: PatientAccountState
        if let invitation, invitation.revokedAt == nil, enrolledAt.map({ invitation.createdAt > $0 }) ?? true {
            // Invited (again) since the last enrolment: what matters now is this invitation.
            state = expired ? .expired : .pending
        } else if enrolled {
            state = .enrolled
        } else if resetAt != nil && enrolledAt != nil {
            state = .reset
        } else if let invitation {
            state = invitation.revokedAt != nil ? .revoked : (expired ? .expired : .pending)
        } else {
            state = .none
        }
        return PatientSummary(id: id, patient: RegisteredPatient(patientID: pid, issuer: issuer, name: name, birthDate: birth, sex: sex, email: email),
                              createdAt: created, state: state, invitation: invitation, enrolledAt: enrolled ? enrolledAt : nil,
                              locked: enrolled && locked, edgePushedAt: pushed, unlockRequestedAt: unlock, resetRequestedAt: reset)
    }

    /// `text` matched literally by ILIKE (its `%`, `_` and `\` escaped; `\` is ILIKE's default escape).
    static func likeEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            if character == "%" || character == "_" || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out
    }
}
