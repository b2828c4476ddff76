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

    func load(_ id: UUID, issuer: String) async throws -> (WorkerBatch, registered: RegisteredPatient?) {
        let rows = try await database.client.query("""
            SELECT b.patient, k.name, b.kiosk_session, b.staging_key, b.manifest
            FROM batches b LEFT JOIN kiosks k ON k.id = b.kiosk WHERE b.id = \(id)
            """, logger: database.logger)
        var found: (Int64?, String?, String?, Data, Data?)?
        for try await row in rows.decode((Int64?, String?, String?, Data, Data?).self) { found = row }
        guard let (patientRow, kioskName, session, keyBytes, manifestBytes) = found else { throw LoadError.missing(id) }
        guard keyBytes.count == 32 else { throw LoadError.unreadable(id, "its staging key is not 32 bytes") }
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
        var uploads: [UploadRecord] = []
        let ids = try await database.client.query("SELECT id FROM uploads WHERE batch = \(id) ORDER BY id", logger: database.logger)
        for try await raw in ids.decode(String.self) {
            guard let uploadID = UploadID(raw), let record = try await registry.get(uploadID), record.isComplete else { continue }
            uploads.append(record)
        }
        let batch = WorkerBatch(id: id, owner: owner, keyBytes: keyBytes, uploads: uploads)
        return (batch, registered)
    }

    func markProcessing(_ id: UUID) async throws {
        try await database.client.query("""
            UPDATE batches SET state = 'processing' WHERE id = \(id) AND state IN ('committed', 'processing', 'failed')
            """, logger: database.logger)
    }

    /// Records the outcome in one transaction: the batch's state and report, each instance's verdict, and the
    /// audit record, and the worker's summary of the report for fleet analytics. Deliveries are in the ledger already,
    /// written as the PACS acknowledged them.
    func record(_ id: UUID, state: String, report: Report, exit: Int, problems: [String], worker: String) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let reportJSON = String(decoding: try encoder.encode(report), as: UTF8.self)
        try await database.transaction { connection in
            try await connection.query("""
                UPDATE batches SET state = \(state), report = \(reportJSON)::jsonb, problems = \(problems), processed_at = now()
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
            try await PortalStore.AuditLog(database).append(eventType: "batch.\(state)", actor: worker, detail: [
                "batch": .string(id.uuidString.lowercased()), "files": .integer(Int64(totals.files)), "dicom": .integer(Int64(totals.dicom)),
                "clean": .integer(Int64(totals.clean)), "disarmed": .integer(Int64(totals.disarmed)),
                "rejected": .integer(Int64(totals.rejected)), "delivered": .integer(Int64(totals.delivered)),
                "problems": .integer(Int64(problems.count)),
            ], on: connection)
        }
    }

    static func bytes(hex: String) -> Data? {
        guard hex.utf8.count == 64 else { return nil }
        return Hex.decode(hex)
    }
}
