import Foundation
import Logging
import PostgresNIO

/// What staff ask the edge to do to a patient's portal account, which the link carries at its next poll: a request
/// is a timestamp on the patient's row, set by staff and cleared once the edge has done it (a newer request made
/// meanwhile stays for the next poll).
public enum EdgeAccountRequest: Sendable, CaseIterable {
    /// Unlock after too many second-factor failures.
    case unlock
    /// Remove the second factor (passkeys, authenticator app, recovery codes) and end the sessions; the patient
    /// enrols again from a new invitation.
    case secondFactorReset

    /// A column name, never input: safe to put in the SQL as it is.
    var column: String {
        switch self {
        case .unlock: "edge_unlock_requested_at"
        case .secondFactorReset: "edge_reset_requested_at"
        }
    }

    var requestedEvent: String {
        switch self {
        case .unlock: AuditEvent.unlockRequested
        case .secondFactorReset: AuditEvent.patientSecondFactorReset
        }
    }

    var pushedEvent: String {
        switch self {
        case .unlock: AuditEvent.linkUnlockPushed
        case .secondFactorReset: AuditEvent.linkResetPushed
        }
    }
}

extension InvitationStore {
    /// Records staff's request, audited in the same transaction.
    public func request(_ request: EdgeAccountRequest, patient: Int64, actor: String) async throws {
        try await database.transaction { connection in
            var found = false
            for try await _ in try await connection.query("""
                UPDATE patients SET \(unescaped: request.column) = now() WHERE id = \(patient) RETURNING id
                """, logger: database.logger) { found = true }
            guard found else { throw InvitationError.unknownPatient(patient) }
            try await AuditLog(database).append(eventType: request.requestedEvent, actor: actor, detail: [
                "patient": .integer(patient),
            ], on: connection)
        }
    }
}

extension EdgeLinkStore {
    /// Requests the edge has not carried out yet: (patient, when requested).
    public func toPush(_ request: EdgeAccountRequest) async throws -> [(patient: Int64, requestedAt: Date)] {
        var requests: [(Int64, Date)] = []
        for try await row in try await database.client.query("""
            SELECT id, \(unescaped: request.column) FROM patients WHERE \(unescaped: request.column) IS NOT NULL ORDER BY id LIMIT 100
            """, logger: database.logger).decode((Int64, Date).self) { requests.append(row) }
        return requests.map { (patient: $0.0, requestedAt: $0.1) }
    }

    /// Clears the request the edge carried out; one made meanwhile stays for the next poll.
    public func pushed(_ request: EdgeAccountRequest, patient: Int64, requestedAt: Date) async throws {
        try await database.transaction { connection in
            try await connection.query("""
                UPDATE patients SET \(unescaped: request.column) = NULL WHERE id = \(patient) AND \(unescaped: request.column) = \(requestedAt)
                """, logger: database.logger)
            try await AuditLog(database).append(eventType: request.pushedEvent, actor: Self.actor,
                                                detail: ["patient": .integer(patient)], on: connection)
        }
    }
}
