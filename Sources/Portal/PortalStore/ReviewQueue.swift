import Foundation
import Logging
import PostgresNIO

/// The review queue: every held batch nobody has decided yet (review_state NULL or 'pending'), from patients' own
/// uploads and from kiosks, with why it is held; and the reviewers' decisions. Each decision changes the batch, (for
/// approve and reassign) enqueues the batch's `protect` job again and appends its audit record in one transaction,
/// under the batch's row lock, so of two reviewers deciding at once the second is told someone decided first. A batch
/// run again has its result pushed to the edge again (the patient's page shows the new outcome).
public struct ReviewQueue: Sendable {
    /// The longest reason kept.
    public static let reasonLimit = 2000
    /// The job payload's `review` key: the worker runs the batch as the reviewer decided.
    public static let payloadKey = "review"

    let database: PortalDatabase
    /// The hospital's issuer of Patient IDs: a kiosk desk's Patient ID is looked up in the registry under it.
    let issuer: String
    let protectAttempts: Int
    private var logger: Logger { database.logger }

    public init(_ database: PortalDatabase, issuer: String = "", protectAttempts: Int = 5) {
        self.database = database
        self.issuer = issuer
        self.protectAttempts = protectAttempts
    }

    public struct Filter: Sendable, Equatable {
        public var source: ReviewItem.Source?
        public var reason: ReviewReason?
        public var limit: Int
        public init(source: ReviewItem.Source? = nil, reason: ReviewReason? = nil, limit: Int = 500) {
            self.source = source; self.reason = reason; self.limit = limit
        }
    }

    /// The undecided held batches, oldest first.
    public func queue(_ filter: Filter = Filter()) async throws -> [ReviewItem] {
        let source = filter.source?.rawValue
        let rows = try await database.client.query("""
            SELECT b.id FROM batches b
            WHERE b.state = 'held' AND (b.review_state IS NULL OR b.review_state = 'pending')
              AND (\(source)::text IS NULL OR (\(source)::text = 'kiosk') = (b.kiosk IS NOT NULL))
            ORDER BY b.created_at, b.id LIMIT \(max(1, min(filter.limit, 5000)))
            """, logger: logger)
        var ids: [UUID] = []
        for try await id in rows.decode(UUID.self) { ids.append(id) }
        var items: [ReviewItem] = []
        for id in ids {
            guard let loaded = try await load(id, on: nil) else { continue }
            if let reason = filter.reason, !loaded.item.reasons.contains(reason) { continue }
            items.append(loaded.item)
        }
        return items
    }

    /// A batch opened for review, with the record that `actor` looked at it (`review.viewed`); nil when it does not
    /// exist or has no report (never processed).
    public func open(_ batch: UUID, actor: String) async throws -> ReviewDetail? {
        try await database.transaction { connection in
            guard let loaded = try await load(batch, on: connection), loaded.report != nil else { return nil }
            var detail: [String: JSONValue] = ["batch": .string(batch.uuidString.lowercased())]
            if let patient = loaded.item.registered?.id { detail["patient"] = .integer(patient) }
            if let kiosk = loaded.item.kiosk { detail["kiosk"] = .string(kiosk) }
            try await AuditLog(database).append(eventType: AuditEvent.reviewViewed, actor: actor, detail: detail, on: connection)
            return loaded.detail
        }
    }

    /// Records `decision` by `reviewer` (a staff username; `actor` names them in the audit trail) with its reason.
    public func decide(_ decision: ReviewDecision, batch: UUID, reviewer: String, actor: String, reason raw: String) async throws {
        let reason = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { throw ReviewError.reasonRequired }
        guard reason.count <= Self.reasonLimit else { throw ReviewError.reasonTooLong(Self.reasonLimit) }
        let id = batch.uuidString.lowercased()
        try await database.transaction { connection in
            var current: (state: String, review: String?)?
            for try await row in try await connection.query("""
                SELECT state, review_state FROM batches WHERE id = \(batch) FOR UPDATE
                """, logger: logger).decode((String, String?).self) { current = (row.0, row.1) }
            guard let current else { throw ReviewError.notFound(batch) }
            guard current.state == "held", current.review == nil || current.review == "pending" else {
                throw ReviewError.notPending(batch, state: current.state, reviewState: current.review)
            }
            guard let loaded = try await load(batch, on: connection) else { throw ReviewError.notFound(batch) }
            var detail: [String: JSONValue] = ["batch": .string(id), "reason": .string(reason)]
            if let patient = loaded.item.registered?.id { detail["patient"] = .integer(patient) }
            if let kiosk = loaded.item.kiosk { detail["kiosk"] = .string(kiosk) }
            let event: String
            switch decision {
            case .approve:
                guard loaded.item.registered != nil || loaded.item.desk?.patientID != nil else { throw ReviewError.noRegisteredPatient(batch) }
                try await connection.query("""
                    UPDATE batches SET review_state = 'approved', reviewed_by = \(reviewer), review_reason = \(reason), reviewed_at = now(),
                        state = 'committed', result_pushed_at = NULL
                    WHERE id = \(batch)
                    """, logger: logger)
                try await enqueue(batch, review: "approved", on: connection)
                event = AuditEvent.reviewApproved
            case .reject(let days):
                try await connection.query("""
                    UPDATE batches SET review_state = 'rejected', reviewed_by = \(reviewer), review_reason = \(reason), reviewed_at = now(),
                        purge_after = now() + make_interval(days => \(days)::int)
                    WHERE id = \(batch)
                    """, logger: logger)
                detail["retentionDays"] = .integer(Int64(days))
                event = AuditEvent.reviewRejected
            case .reassign(let patient):
                var exists = false
                for try await _ in try await connection.query("SELECT 1 FROM patients WHERE id = \(patient)", logger: logger) { exists = true }
                guard exists else { throw ReviewError.unknownPatient(patient) }
                try await connection.query("""
                    UPDATE batches SET review_state = 'reassigned', reviewed_by = \(reviewer), review_reason = \(reason), reviewed_at = now(),
                        assigned_patient = \(patient), state = 'committed', result_pushed_at = NULL
                    WHERE id = \(batch)
                    """, logger: logger)
                try await enqueue(batch, review: "reassigned", on: connection)
                detail["assignedPatient"] = .integer(patient)
                event = AuditEvent.reviewReassigned
            }
            try await AuditLog(database).append(eventType: event, actor: actor, detail: detail, on: connection)
        }
        logger.info("review decided", metadata: ["batch": "\(id)", "decision": "\(decision)", "reviewer": "\(reviewer)"])
    }

    private func enqueue(_ batch: UUID, review: String, on connection: PostgresConnection) async throws {
        let payload = JSONValue.object(["batch": .string(batch.uuidString.lowercased()), Self.payloadKey: .string(review)])
        try await JobQueue(database).enqueue(NewJob(kind: BatchStore.protectJobKind, batch: batch, payloadJSON: payload.canonical,
                                                    maxAttempts: protectAttempts), on: connection)
    }

    // MARK: reading a batch

    struct Loaded {
        var item: ReviewItem
        var detail: ReviewDetail
        var report: ReviewReport?
    }

    private func query(_ connection: PostgresConnection?, _ query: PostgresQuery) async throws -> PostgresRowSequence {
        if let connection { return try await connection.query(query, logger: logger) }
        return try await database.client.query(query, logger: logger)
    }

    /// The batch with its patients, report and reasons; nil when it does not exist.
    func load(_ batch: UUID, on connection: PostgresConnection?) async throws -> Loaded? {
        let rows = try await query(connection, """
            SELECT k.name, b.kiosk_session, b.manifest, b.report::text, b.problems, b.review_state, b.created_at, b.processed_at,
                   COALESCE(b.assigned_patient, b.patient)
            FROM batches b LEFT JOIN kiosks k ON k.id = b.kiosk WHERE b.id = \(batch)
            """)
        typealias Row = (String?, String?, Data?, String?, [String], String?, Date, Date?, Int64?)
        var found: Row?
        for try await row in rows.decode(Row.self) { found = row }
        guard let (kiosk, session, manifest, reportJSON, problems, reviewState, createdAt, processedAt, patientRow) = found else { return nil }
        let report = ReviewReport.decode(reportJSON)
        var desk: ReviewPatient?
        if kiosk != nil, let expected = report?.expectedPatient, expected.id != nil || expected.name != nil {
            desk = ReviewPatient(id: nil, patientID: expected.id, issuer: nil, name: expected.name, birthDate: expected.birthDate, sex: nil)
        }
        var registered: ReviewPatient?
        if let patientRow {
            registered = try await patient(id: patientRow, on: connection)
        } else if let deskID = desk?.patientID {
            registered = try await patient(patientID: deskID, on: connection)
        }
        if let registered, desk?.patientID == registered.patientID { desk?.id = registered.id }
        let operatorName = manifest.flatMap { try? JSONDecoder().decode(ManifestOperator.self, from: $0).operatorName }
        let studies = (report?.studies ?? []).map(Self.study)
        let item = ReviewItem(batch: batch.uuidString.lowercased(), source: kiosk == nil ? .portal : .kiosk, kiosk: kiosk, kioskSession: session, kioskOperator: operatorName,
                              registered: registered, desk: desk, reasons: report?.reasons(problems: problems) ?? problems.map(BatchProblem.reason),
                              studies: studies.count, instances: studies.reduce(0) { $0 + $1.instances },
                              reviewState: reviewState, createdAt: createdAt, heldAt: processedAt)
        var findings: [String: ReviewFinding] = [:]
        let ranks = ["info", "low", "medium", "high", "critical"]
        for finding in (report?.files ?? []).flatMap({ $0.findings ?? [] }) + (report?.media?.findings ?? []) {
            let severity = finding.severity ?? "info"
            var entry = findings[finding.code] ?? ReviewFinding(code: finding.code, severity: severity, count: 0)
            entry.count += 1
            if (ranks.firstIndex(of: severity) ?? 0) > (ranks.firstIndex(of: entry.severity) ?? 0) { entry.severity = severity }
            findings[finding.code] = entry
        }
        let totals = report?.totals
        let detail = ReviewDetail(
            item: item, studies: studies, findings: findings.values.sorted { $0.code < $1.code }, problems: problems,
            totals: ["files": totals?.files ?? 0, "dicom": totals?.dicom ?? 0, "clean": totals?.clean ?? 0, "disarmed": totals?.disarmed ?? 0,
                     "rejected": totals?.rejected ?? 0, "discarded": totals?.discarded ?? 0, "delivered": totals?.delivered ?? 0],
            identityOverride: report?.identityOverride)
        return Loaded(item: item, detail: detail, report: report)
    }

    private struct ManifestOperator: Decodable { var operatorName: String? }

    static func study(_ study: ReviewReport.Study) -> ReviewStudy {
        // Reports written before `mediaPatient` show the delivered values; without reconciliation these are the media's.
        let media = study.mediaPatient
        let header = ReviewStudy.Header(name: media?.name ?? study.patientName ?? "", patientID: media?.id ?? study.patientID ?? "",
                                        issuer: media?.issuer, birthDate: media?.birthDate ?? study.birthDate ?? "", sex: media?.sex)
        return ReviewStudy(studyInstanceUID: study.studyInstanceUID ?? "", header: header, studyDate: study.studyDate,
                           description: study.description ?? "", modalities: study.modalities ?? [], institutions: study.institutions ?? [],
                           instances: study.instances ?? 0, series: study.series ?? 0, identity: study.identity ?? "unverified",
                           identityScore: study.identityScore, identityReasons: study.identityReasons ?? [],
                           fields: ReviewReport.fields(study.identityReasons), reason: ReviewReport.studyReason(study))
    }

    private func patient(id: Int64, on connection: PostgresConnection?) async throws -> ReviewPatient? {
        try await patients(connection, "SELECT id, patient_id, issuer, name, birth_date, sex FROM patients WHERE id = \(id)").first
    }

    private func patient(patientID: String, on connection: PostgresConnection?) async throws -> ReviewPatient? {
        try await patients(connection, """
            SELECT id, patient_id, issuer, name, birth_date, sex FROM patients WHERE patient_id = \(patientID) AND issuer = \(issuer)
            """).first
    }

    private func patients(_ connection: PostgresConnection?, _ sql: PostgresQuery) async throws -> [ReviewPatient] {
        var found: [ReviewPatient] = []
        for try await (id, pid, issuer, name, birth, sex) in try await query(connection, sql).decode((Int64, String, String, String, String, String?).self) {
            found.append(ReviewPatient(id: id, patientID: pid, issuer: issuer, name: name, birthDate: birth, sex: sex))
        }
        return found
    }
}
