import Foundation
import Logging
import PostgresNIO

/// A patient as the edge is told about it (`PUT /link/v1/patients/{ref}`), with the version of the record it carries.
public struct EdgePatient: Sendable, Equatable {
    /// `patients.id`: the edge's `ref`.
    public let ref: Int64
    public let name: String
    public let birthDate: String
    public let email: String
    /// The live invitation not yet on the edge, if any.
    public let invitation: EdgeInvitation?
    /// The SHA-256 of the token of the patient's live invitation (pushed or not), nil when none is live: the edge voids
    /// any other it still holds, so a revoked invitation stops working there too.
    public let liveInvitationSHA256: Data?
    /// `patients.updated_at` when read: the edge copy is current once this version is recorded as pushed.
    public let version: Date
}

public struct EdgeInvitation: Sendable, Equatable {
    public let id: Int64
    public let tokenSHA256: Data
    public let expiresAt: Date
}

/// A batch core made for one the edge submitted.
public struct EdgeBatchRecord: Sendable, Equatable {
    public let batch: Batch
    public let patient: Int64
}

/// One upload of an edge batch, staged and verified, as the `uploads` row records it.
public struct EdgeUploadRow: Sendable {
    public let id: String
    public let length: Int64
    /// `[MetadataEntry]` as the upload registry encodes it (the worker reads the name and digest from it).
    public let metadataJSON: String
    /// Lower-case hex.
    public let sha256: String

    public init(id: String, length: Int64, metadataJSON: String, sha256: String) {
        self.id = id; self.length = length; self.metadataJSON = metadataJSON; self.sha256 = sha256
    }
}

/// A finished edge batch whose result the edge does not have yet.
public struct EdgeResultSource: Sendable {
    public let batch: UUID
    public let edgeBatch: UUID
    /// delivered, held or failed.
    public let state: String
    /// The worker's report (session report JSON), nil when the batch failed before one was written.
    public let reportJSON: String?
    public let problems: [String]
    public let decidedAt: Date?

    public init(batch: UUID, edgeBatch: UUID, state: String, reportJSON: String?, problems: [String], decidedAt: Date?) {
        self.batch = batch; self.edgeBatch = edgeBatch; self.state = state; self.reportJSON = reportJSON
        self.problems = problems; self.decidedAt = decidedAt
    }
}

/// An edge security event (`GET /link/v1/events`).
public struct EdgeEvent: Sendable, Equatable {
    public let seq: Int64
    public let at: String
    public let type: String
    public let patient: String?
    public let address: String?
    public let detail: JSONValue

    public init(seq: Int64, at: String, type: String, patient: String?, address: String?, detail: JSONValue) {
        self.seq = seq; self.at = at; self.type = type; self.patient = patient; self.address = address; self.detail = detail
    }
}

/// What the edge link reads and records in core's database. Each step is idempotent, so a poll cut short anywhere is
/// simply done again at the next one: nothing is lost or taken twice.
public struct EdgeLinkStore: Sendable {
    public static let actor = "core"

    let database: PortalDatabase
    let protectAttempts: Int
    private var logger: Logger { database.logger }

    public init(_ database: PortalDatabase, protectAttempts: Int = 5) {
        self.database = database
        self.protectAttempts = protectAttempts
    }

    // MARK: patients

    /// Invited patients whose edge copy is missing or older than the record, or who have an invitation the edge
    /// does not have yet. A patient without an e-mail address cannot sign in at the edge and is not pushed.
    public func patientsToPush(limit: Int = 100) async throws -> [EdgePatient] {
        var patients: [EdgePatient] = []
        for try await (ref, name, birthDate, email, version, invitation, sha, expires, live) in try await database.client.query("""
            SELECT p.id, p.name, p.birth_date, p.email, p.updated_at, i.id, i.token_sha256, i.expires_at, l.token_sha256
            FROM patients p
            LEFT JOIN invitations i ON i.patient = p.id AND i.revoked_at IS NULL AND i.pushed_at IS NULL AND i.expires_at > now()
            LEFT JOIN invitations l ON l.patient = p.id AND l.revoked_at IS NULL
            WHERE p.email IS NOT NULL AND EXISTS (SELECT 1 FROM invitations a WHERE a.patient = p.id)
              AND (p.edge_pushed_at IS DISTINCT FROM p.updated_at OR i.id IS NOT NULL)
            ORDER BY p.id LIMIT \(limit)
            """, logger: logger).decode((Int64, String, String, String, Date, Int64?, Data?, Date?, Data?).self) {
            let unpushed = zip3(invitation, sha, expires).map { EdgeInvitation(id: $0, tokenSHA256: $1, expiresAt: $2) }
            patients.append(EdgePatient(ref: ref, name: name, birthDate: birthDate, email: email, invitation: unpushed,
                                        liveInvitationSHA256: live, version: version))
        }
        return patients
    }

    /// Records that the edge holds `patient` as read (and its invitation, if it carried one).
    public func patientPushed(_ patient: EdgePatient) async throws {
        try await database.transaction { connection in
            try await connection.query("""
                UPDATE patients SET edge_pushed_at = \(patient.version) WHERE id = \(patient.ref)
                """, logger: logger)
            var detail: [String: JSONValue] = ["patient": .integer(patient.ref)]
            if let invitation = patient.invitation {
                try await connection.query("UPDATE invitations SET pushed_at = now() WHERE id = \(invitation.id)", logger: logger)
                detail["invitation"] = .integer(invitation.id)
            }
            try await AuditLog(database).append(eventType: AuditEvent.linkPatientPushed, actor: Self.actor, detail: detail, on: connection)
        }
    }

    // MARK: batches

    /// The batch core made for edge batch `edgeBatch`, if any.
    public func batch(edgeBatch: UUID) async throws -> EdgeBatchRecord? {
        for try await (id, state, key, patient) in try await database.client.query("""
            SELECT id, state, staging_key, patient FROM batches WHERE edge_batch = \(edgeBatch)
            """, logger: logger).decode((UUID, String, Data, Int64).self) {
            return EdgeBatchRecord(batch: Batch(id: id, state: state, stagingKey: key), patient: patient)
        }
        return nil
    }

    /// The open batch for edge batch `edgeBatch` of `patient`, made (with a fresh staging key) on first sight and
    /// found again on every later try: a download that fails is retried into the same batch.
    public func takeBatch(edgeBatch: UUID, patient: Int64) async throws -> EdgeBatchRecord {
        if let existing = try await batch(edgeBatch: edgeBatch) { return existing }
        let made = try await BatchStore(database).createPatientBatch(patient: patient, edgeBatch: edgeBatch)
        return EdgeBatchRecord(batch: made, patient: patient)
    }

    /// Records the staged uploads complete, commits the batch and enqueues its job, in one transaction; false when the
    /// batch was no longer open (another core took it).
    @discardableResult
    public func commit(_ record: EdgeBatchRecord, edgeBatch: UUID, uploads: [EdgeUploadRow]) async throws -> Bool {
        let batch = record.batch.id
        return try await database.transaction { connection in
            var open = false
            for try await state in try await connection.query("""
                SELECT state FROM batches WHERE id = \(batch) AND edge_batch = \(edgeBatch) FOR UPDATE
                """, logger: logger).decode(String.self) { open = state == "open" }
            guard open else { return false }
            for upload in uploads {
                try await connection.query("""
                    INSERT INTO uploads (id, batch, owner, length, "offset", metadata, expires_at, sha256, state)
                    VALUES (\(upload.id), \(batch), \("edge"), \(upload.length), \(upload.length), \(upload.metadataJSON)::jsonb,
                            now(), \(upload.sha256), 'complete')
                    ON CONFLICT (id) DO UPDATE SET length = EXCLUDED.length, "offset" = EXCLUDED."offset",
                        metadata = EXCLUDED.metadata, sha256 = EXCLUDED.sha256, state = 'complete'
                    """, logger: logger)
            }
            try await connection.query("""
                UPDATE batches SET state = 'committed', committed_at = now() WHERE id = \(batch)
                """, logger: logger)
            let id = batch.uuidString.lowercased()
            try await JobQueue(database).enqueue(
                NewJob(kind: BatchStore.protectJobKind, batch: batch, payloadJSON: JSONValue.object(["batch": .string(id)]).canonical,
                       maxAttempts: protectAttempts),
                on: connection)
            try await AuditLog(database).append(eventType: AuditEvent.linkBatchTaken, actor: Self.actor, detail: [
                "batch": .string(id), "edge_batch": .string(edgeBatch.uuidString.lowercased()),
                "patient": .integer(record.patient), "uploads": .integer(Int64(uploads.count)),
                "bytes": .integer(uploads.reduce(0) { $0 + $1.length }),
            ], on: connection)
            return true
        }
    }

    /// Audits a download whose bytes differ from what the edge declared; returns how many times that has happened for
    /// this edge batch (the audit chain is the count, so a restart does not reset it).
    public func recordMismatch(_ record: EdgeBatchRecord, edgeBatch: UUID, upload: String, reason: String) async throws -> Int {
        let edgeID = edgeBatch.uuidString.lowercased()
        return try await database.transaction { connection in
            try await AuditLog(database).append(eventType: AuditEvent.linkDigestMismatch, actor: Self.actor, detail: [
                "batch": .string(record.batch.id.uuidString.lowercased()), "edge_batch": .string(edgeID),
                "upload": .string(upload), "reason": .string(reason),
            ], on: connection)
            var count = 0
            for try await value in try await connection.query("""
                SELECT count(*)::int FROM audit WHERE event_type = \(AuditEvent.linkDigestMismatch) AND detail->>'edge_batch' = \(edgeID)
                """, logger: logger).decode(Int.self) { count = value }
            return count
        }
    }

    /// Gives the batch up: failed, with the reason in plain words as its problem; its result then goes to the edge.
    public func fail(_ record: EdgeBatchRecord, edgeBatch: UUID, reason: String) async throws {
        try await database.transaction { connection in
            try await connection.query("""
                UPDATE batches SET state = 'failed', problems = \([reason]), processed_at = now()
                WHERE id = \(record.batch.id) AND state = 'open'
                """, logger: logger)
            try await AuditLog(database).append(eventType: AuditEvent.linkBatchFailed, actor: Self.actor, detail: [
                "batch": .string(record.batch.id.uuidString.lowercased()), "edge_batch": .string(edgeBatch.uuidString.lowercased()),
                "reason": .string(reason),
            ], on: connection)
        }
    }

    // MARK: results

    /// Edge batches a worker finished (or core gave up on) whose result the edge does not have.
    public func resultsToPush(limit: Int = 50) async throws -> [EdgeResultSource] {
        var results: [EdgeResultSource] = []
        for try await (id, edge, state, report, problems, processed) in try await database.client.query("""
            SELECT id, edge_batch, state, report::text, problems, processed_at FROM batches
            WHERE edge_batch IS NOT NULL AND result_pushed_at IS NULL AND state IN ('delivered', 'held', 'failed')
            ORDER BY created_at LIMIT \(limit)
            """, logger: logger).decode((UUID, UUID, String, String?, [String], Date?).self) {
            results.append(EdgeResultSource(batch: id, edgeBatch: edge, state: state, reportJSON: report, problems: problems,
                                            decidedAt: processed))
        }
        return results
    }

    public func resultPushed(batch: UUID, state: String) async throws {
        try await database.transaction { connection in
            try await connection.query("UPDATE batches SET result_pushed_at = now() WHERE id = \(batch)", logger: logger)
            try await AuditLog(database).append(eventType: AuditEvent.linkResultPushed, actor: Self.actor, detail: [
                "batch": .string(batch.uuidString.lowercased()), "state": .string(state),
            ], on: connection)
        }
    }

    // MARK: events

    /// The last edge event seq taken (0 before the first).
    public func lastEvent() async throws -> Int64 {
        for try await seq in try await database.client.query("SELECT last_seq FROM edge_events", logger: logger).decode(Int64.self) {
            return seq
        }
        return 0
    }

    /// Appends `events` to the audit chain (actor "edge", in seq order) and moves the cursor, in one transaction; events
    /// at or below the cursor (taken by an earlier poll) are skipped. Returns the new cursor.
    @discardableResult
    public func take(_ events: [EdgeEvent]) async throws -> Int64 {
        try await database.transaction { connection in
            var last: Int64 = 0
            for try await seq in try await connection.query("""
                SELECT last_seq FROM edge_events FOR UPDATE
                """, logger: logger).decode(Int64.self) { last = seq }
            let audit = AuditLog(database)
            for event in events.sorted(by: { $0.seq < $1.seq }) where event.seq > last {
                var detail: [String: JSONValue] = ["seq": .integer(event.seq), "at": .string(event.at), "detail": event.detail]
                if let patient = event.patient { detail["patient"] = .string(patient) }
                if let address = event.address { detail["address"] = .string(address) }
                try await audit.append(eventType: AuditEvent.edge(event.type), actor: "edge", detail: detail, on: connection)
                last = event.seq
            }
            try await connection.query("""
                INSERT INTO edge_events (single, last_seq) VALUES (true, \(last))
                ON CONFLICT (single) DO UPDATE SET last_seq = EXCLUDED.last_seq
                """, logger: logger)
            return last
        }
    }
}

private func zip3<A, B, C>(_ a: A?, _ b: B?, _ c: C?) -> (A, B, C)? {
    guard let a, let b, let c else { return nil }
    return (a, b, c)
}
