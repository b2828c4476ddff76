import Analytics
import Crypto
import Foundation
import Logging
import PortalProtocol
import PortalStore
import PostgresNIO
import SessionReport
import Uploads

/// What a worker reads and writes about a batch in the portal's database.
struct BatchRecords {
    let database: PortalDatabase
    let registry: any UploadRegistry

    enum LoadError: Error, CustomStringConvertible {
        case missing(UUID)
        case unreadable(UUID, String)
        var description: String {
            switch self {
            case .missing(let id): "batch \(id) does not exist"
            case .unreadable(let id, let why): "batch \(id) cannot be read: \(why)"
            }
        }
    }

    /// The batch, and the registered patient it is compared with: the one a reviewer assigned, else its uploader,
    /// else the registry's record of the patient named at the kiosk desk. `review` is the decision the job was
    /// enqueued for (its payload's `review`); it is carried out only while the batch still records that decision.
    func load(_ id: UUID, issuer: String, review requested: String? = nil) async throws -> (WorkerBatch, registered: RegisteredPatient?) {
        let rows = try await database.client.query("""
            SELECT b.patient, k.name, b.kiosk_session, b.staging_key, b.manifest, b.assigned_patient, b.created_at,
                   b.review_state, b.reviewed_by, b.review_reason
            FROM batches b LEFT JOIN kiosks k ON k.id = b.kiosk WHERE b.id = \(id)
            """, logger: database.logger)
        typealias Row = (Int64?, String?, String?, Data, Data?, Int64?, Date, String?, String?, String?)
        var found: Row?
        for try await row in rows.decode(Row.self) { found = row }
        guard let (patientRow, kioskName, session, keyBytes, manifestBytes, assigned, createdAt, reviewState, reviewer, reason) = found else {
            throw LoadError.missing(id)
        }
        guard keyBytes.count == 32 else { throw LoadError.unreadable(id, "its staging key is not 32 bytes") }
        var review: WorkerBatch.Review?
        if let requested, requested == reviewState {
            switch reviewState {
            case "approved":
                guard let reviewer, let reason else { throw LoadError.unreadable(id, "its approval names no reviewer or reason") }
                review = .approved(reviewer: reviewer, reason: reason)
            case "reassigned":
                review = .reassigned
            default:
                break
            }
        }
        var registered: RegisteredPatient?
        let owner: WorkerBatch.Owner
        if let patientRow {
            guard let patient = try await PatientRegistry(database).get(id: patientRow) else {
                throw LoadError.unreadable(id, "its patient \(patientRow) is not registered")
            }
            registered = patient
            owner = .patient(patient)
        } else if let kioskName, let session {
            // The manifest was verified and validated when core stored it; a batch committed without one is a
            // kiosk's session whose desk named nobody.
            let manifest = try manifestBytes.map { bytes throws(ManifestError) in try KioskManifest.decode(bytes) }
            if let desk = manifest?.report.value.expectedPatient, let deskID = desk.id {
                registered = try await PatientRegistry(database).find(patientID: deskID, issuer: issuer)?.patient
            }
            owner = .kiosk(name: kioskName, session: session, manifest: manifest)
        } else {
            throw LoadError.unreadable(id, "it belongs to neither a patient nor a kiosk session")
        }
        if let assigned {
            guard let patient = try await PatientRegistry(database).get(id: assigned) else {
                throw LoadError.unreadable(id, "the patient \(assigned) a reviewer assigned is not registered")
            }
            registered = patient
        }
        var uploads: [UploadRecord] = []
        // A purged upload's bytes are gone; its row stays for the record.
        let ids = try await database.client.query("""
            SELECT id FROM uploads WHERE batch = \(id) AND state <> 'purged' ORDER BY id
            """, logger: database.logger)
        for try await raw in ids.decode(String.self) {
            guard let uploadID = UploadID(raw), let record = try await registry.get(uploadID), record.isComplete else { continue }
            uploads.append(record)
        }
        let batch = WorkerBatch(id: id, owner: owner, createdAt: createdAt, review: review, keyBytes: keyBytes, uploads: uploads)
        return (batch, registered)
    }

    func markProcessing(_ id: UUID) async throws {
        try await database.client.query("""
            UPDATE batches SET state = 'processing' WHERE id = \(id) AND state IN ('committed', 'processing', 'failed')
            """, logger: database.logger)
    }

    /// Records the outcome in one transaction: the batch's state and report, each instance's verdict, and the
    /// audit record, and the worker's summary of the report for fleet analytics. Deliveries are in the ledger already,
    /// written as the PACS acknowledged them. A batch held again after a reviewer's decision goes back to the queue as
    /// pending (the decision is in the audit trail); one delivered keeps its decision.
    func record(_ id: UUID, state: String, report: Report, exit: Int, problems: [String], worker: String, review: WorkerBatch.Review? = nil) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let reportJSON = String(decoding: try encoder.encode(report), as: UTF8.self)
        try await database.transaction { connection in
            try await connection.query("""
                UPDATE batches SET state = \(state), report = \(reportJSON)::jsonb, problems = \(problems), processed_at = now(),
                    review_state = CASE WHEN \(state) = 'held' THEN 'pending' ELSE review_state END,
                    reviewed_by = CASE WHEN \(state) = 'held' THEN NULL ELSE reviewed_by END,
                    review_reason = CASE WHEN \(state) = 'held' THEN NULL ELSE review_reason END,
                    reviewed_at = CASE WHEN \(state) = 'held' THEN NULL ELSE reviewed_at END
                WHERE id = \(id)
                """, logger: database.logger)
            for file in report.files {
                guard let uid = file.sopInstanceUID, let sha = file.sha256, let digest = Self.bytes(hex: sha) else { continue }
                let findings = String(decoding: try encoder.encode(file.findings.map(\.code.rawValue)), as: UTF8.self)
                try await connection.query("""
                    INSERT INTO instances (batch, sop_instance_uid, sha256, verdict, findings)
                    VALUES (\(id), \(uid), \(digest), \(file.verdict.rawValue), \(findings)::jsonb)
                    ON CONFLICT (batch, sop_instance_uid, sha256) DO UPDATE SET verdict = EXCLUDED.verdict, findings = EXCLUDED.findings
                    """, logger: database.logger)
            }
            try await SessionSummaries(database).recordChecked(batch: id, summary: SessionSummary(report, exit: exit), on: connection)
            let totals = report.totals
            var detail: [String: JSONValue] = [
                "batch": .string(id.uuidString.lowercased()), "files": .integer(Int64(totals.files)), "dicom": .integer(Int64(totals.dicom)),
                "clean": .integer(Int64(totals.clean)), "disarmed": .integer(Int64(totals.disarmed)),
                "rejected": .integer(Int64(totals.rejected)), "delivered": .integer(Int64(totals.delivered)),
                "problems": .integer(Int64(problems.count)),
            ]
            switch review {
            case .approved: detail["review"] = .string("approved")
            case .reassigned: detail["review"] = .string("reassigned")
            case nil: break
            }
            try await PortalStore.AuditLog(database).append(eventType: "batch.\(state)", actor: worker, detail: detail, on: connection)
        }
    }

    static func bytes(hex: String) -> Data? {
        guard hex.utf8.count == 64 else { return nil }
        return Hex.decode(hex)
    }
}
