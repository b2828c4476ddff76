import Foundation
import Logging
import PostgresNIO

extension AuditEvent {
    /// A CSV import through the console: one record per import, with its counts (each patient it registered has its
    /// own `patient.registered`).
    public static let patientImported = "patient.imported"
    /// Staff opened a patient's page: the per-patient access report lists who looked.
    public static let patientViewed = "patient.viewed"
    /// Staff asked for the patient's second factor to be removed at the edge (lost phone, lost passkey).
    public static let patientSecondFactorReset = "patient.second-factor-reset"
    /// The edge carried the reset out.
    public static let linkResetPushed = "link.reset-pushed"
}

extension InvitationStore {
    /// Revokes the patient's live invitation, if any, and returns it. The patient's record is marked changed, so the
    /// link tells the edge at its next poll and the link in the e-mail stops working there too.
    public func revokeLive(patient: Int64, reason: String, actor: String) async throws -> Int64? {
        try await database.transaction { connection in
            var exists = false
            for try await _ in try await connection.query("SELECT id FROM patients WHERE id = \(patient) FOR UPDATE",
                                                          logger: database.logger) { exists = true }
            guard exists else { throw InvitationError.unknownPatient(patient) }
            var revoked: Int64?
            for try await id in try await connection.query("""
                UPDATE invitations SET revoked_at = now() WHERE patient = \(patient) AND revoked_at IS NULL RETURNING id
                """, logger: database.logger).decode(Int64.self) { revoked = id }
            guard let revoked else { return nil }
            try await connection.query("UPDATE patients SET updated_at = now() WHERE id = \(patient)", logger: database.logger)
            try await AuditLog(database).append(eventType: AuditEvent.invitationRevoked, actor: actor, detail: [
                "patient": .integer(patient), "invitation": .integer(revoked), "reason": .string(reason),
            ], on: connection)
            return revoked
        }
    }
}
