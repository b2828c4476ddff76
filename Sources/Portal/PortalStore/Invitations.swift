import Credentials
import Foundation
import Logging
import PostgresNIO

/// An invitation to the patient portal as core keeps it: whose, and until when. The token itself is never stored.
public struct Invitation: Sendable, Equatable {
    public let id: Int64
    public let patient: Int64
    public let expiresAt: Date
}

/// A new invitation with its token: the only moment the token exists in core. It goes into the e-mailed link (or,
/// for staff who hand it over in person, onto the screen) and is then forgotten.
public struct IssuedInvitation: Sendable {
    public let invitation: Invitation
    public let token: String
    /// The invitation it replaced, if one was still live.
    public let replaced: Int64?
}

public enum InvitationError: Error, Equatable, CustomStringConvertible {
    case unknownPatient(Int64)

    public var description: String {
        switch self {
        case .unknownPatient(let id): "no patient with id \(id) is on record"
        }
    }
}

/// The `invitations` table and the staff actions around a patient's portal account (invite, unlock). Every change is
/// audited, naming rows, never the token, the e-mail address or the patient.
public struct InvitationStore: Sendable {
    let database: PortalDatabase
    private var logger: Logger { database.logger }

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// A fresh single-use invitation for `patient`, valid for `lifetime`; a live one before it is revoked in the same
    /// transaction (a patient has at most one). The link pushes it to the edge at its next poll.
    public func issue(patient: Int64, lifetime: TimeInterval, actor: String) async throws -> IssuedInvitation {
        let token = OneTimeToken.generate()
        let digest = Data(token.digest)
        let seconds = lifetime
        return try await database.transaction { connection in
            var exists = false
            for try await _ in try await connection.query("SELECT id FROM patients WHERE id = \(patient) FOR UPDATE",
                                                          logger: logger) { exists = true }
            guard exists else { throw InvitationError.unknownPatient(patient) }
            var replaced: Int64?
            for try await id in try await connection.query("""
                UPDATE invitations SET revoked_at = now() WHERE patient = \(patient) AND revoked_at IS NULL RETURNING id
                """, logger: logger).decode(Int64.self) { replaced = id }
            var invitation: Invitation?
            for try await (id, expires) in try await connection.query("""
                INSERT INTO invitations (patient, token_sha256, expires_at)
                VALUES (\(patient), \(digest), now() + make_interval(secs => \(seconds)))
                RETURNING id, expires_at
                """, logger: logger).decode((Int64, Date).self) {
                invitation = Invitation(id: id, patient: patient, expiresAt: expires)
            }
            guard let invitation else { throw InvitationError.unknownPatient(patient) }
            var detail: [String: JSONValue] = [
                "patient": .integer(patient), "invitation": .integer(invitation.id),
                "expires_at": .string(ISO8601DateFormatter().string(from: invitation.expiresAt)),
            ]
            if let replaced { detail["replaced"] = .integer(replaced) }
            try await AuditLog(database).append(eventType: AuditEvent.invitationCreated, actor: actor, detail: detail, on: connection)
            return IssuedInvitation(invitation: invitation, token: token.text, replaced: replaced)
        }
    }

    /// Records that the invitation's e-mail was accepted by the relay (or, `inPerson`, that staff were shown the link).
    public func markSent(_ invitation: Int64, inPerson: Bool, actor: String) async throws {
        try await database.transaction { connection in
            var detail: [String: JSONValue] = ["invitation": .integer(invitation), "by": .string(inPerson ? "in person" : "e-mail")]
            for try await patient in try await connection.query("""
                UPDATE invitations SET sent_at = now() WHERE id = \(invitation) RETURNING patient
                """, logger: logger).decode(Int64.self) { detail["patient"] = .integer(patient) }
            try await AuditLog(database).append(eventType: AuditEvent.invitationSent, actor: actor, detail: detail, on: connection)
        }
    }

    /// Revokes an invitation nobody received (its e-mail failed), saying why in plain words. The patient's record is
    /// marked changed, so the edge voids it too should the link have taken it there meanwhile.
    public func revoke(_ invitation: Int64, reason: String, actor: String) async throws {
        try await database.transaction { connection in
            var patient: Int64?
            for try await id in try await connection.query("""
                UPDATE invitations SET revoked_at = now() WHERE id = \(invitation) AND revoked_at IS NULL RETURNING patient
                """, logger: logger).decode(Int64.self) { patient = id }
            var detail: [String: JSONValue] = ["invitation": .integer(invitation), "reason": .string(reason)]
            if let patient {
                try await connection.query("UPDATE patients SET updated_at = now() WHERE id = \(patient)", logger: logger)
                detail["patient"] = .integer(patient)
            }
            try await AuditLog(database).append(eventType: AuditEvent.invitationRevoked, actor: actor, detail: detail, on: connection)
        }
    }

    /// The live invitation of `patient`, if any.
    public func live(patient: Int64) async throws -> Invitation? {
        for try await (id, expires) in try await database.client.query("""
            SELECT id, expires_at FROM invitations WHERE patient = \(patient) AND revoked_at IS NULL
            """, logger: logger).decode((Int64, Date).self) {
            return Invitation(id: id, patient: patient, expiresAt: expires)
        }
        return nil
    }
}
