import Foundation
import PostgresNIO

/// A rejected batch whose retention has ended: what of it is still kept outside the database.
public struct RejectedBatch: Sendable, Equatable {
    public let batch: UUID
    /// Its uploads' ids in the staging store.
    public let uploads: [String]
    /// The registered patient it was compared with, for the audit record.
    public let patient: Int64?
}

extension ReviewQueue {
    /// Rejected batches whose `purge_after` has passed and that are not purged yet, oldest first.
    public func rejectedDue(limit: Int = 100) async throws -> [RejectedBatch] {
        var due: [(UUID, Int64?)] = []
        for try await row in try await database.client.query("""
            SELECT id, COALESCE(assigned_patient, patient) FROM batches
            WHERE purge_after IS NOT NULL AND purged_at IS NULL AND purge_after <= now()
            ORDER BY purge_after LIMIT \(limit)
            """, logger: database.logger).decode((UUID, Int64?).self) { due.append(row) }
        var batches: [RejectedBatch] = []
        for (batch, patient) in due {
            var uploads: [String] = []
            for try await id in try await database.client.query("""
                SELECT id FROM uploads WHERE batch = \(batch) AND state <> 'purged' ORDER BY id
                """, logger: database.logger).decode(String.self) { uploads.append(id) }
            batches.append(RejectedBatch(batch: batch, uploads: uploads, patient: patient))
        }
        return batches
    }

    /// Records that the batch's bytes are gone: its uploads marked purged (nothing looks for them again), the batch's
    /// `purged_at`, and `review.purged`, in one transaction. False when it was purged already (another core).
    @discardableResult
    public func markPurged(_ rejected: RejectedBatch, actor: String) async throws -> Bool {
        try await database.transaction { connection in
            var marked = false
            for try await _ in try await connection.query("""
                UPDATE batches SET purged_at = now() WHERE id = \(rejected.batch) AND purged_at IS NULL AND review_state = 'rejected'
                RETURNING id
                """, logger: database.logger) { marked = true }
            guard marked else { return false }
            try await connection.query("UPDATE uploads SET state = 'purged' WHERE batch = \(rejected.batch)", logger: database.logger)
            var detail: [String: JSONValue] = ["batch": .string(rejected.batch.uuidString.lowercased()),
                                               "uploads": .integer(Int64(rejected.uploads.count))]
            if let patient = rejected.patient { detail["patient"] = .integer(patient) }
            try await AuditLog(database).append(eventType: AuditEvent.reviewPurged, actor: actor, detail: detail, on: connection)
            return true
        }
    }

    /// Purges every rejected batch past its retention: `remove` deletes what is kept of it outside the database (its
    /// staged uploads, local quarantine), then it is marked purged. A batch whose removal fails stays due and is tried
    /// again next time. Returns how many were purged.
    @discardableResult
    public func purgeDue(actor: String, remove: (RejectedBatch) async throws -> Void) async throws -> Int {
        var purged = 0
        for rejected in try await rejectedDue() {
            try await remove(rejected)
            if try await markPurged(rejected, actor: actor) { purged += 1 }
        }
        return purged
    }
}
