import Credentials
import Foundation
import PostgresNIO

/// Enrolment: a member with an outstanding link sets a password, registers a passkey (required) and optionally an
/// authenticator app, then finishes; the link works until then (or until it expires or is replaced by a reset).
extension StaffDirectory {
    /// The member whose live enrolment link `token` is; nil for a used, replaced, expired or malformed one, or a
    /// disabled member.
    public func enrolling(token: String) async throws -> StaffMember? {
        guard let digest = OneTimeToken(parsing: token)?.digest else { return nil }
        let query: PostgresQuery = try """
            SELECT \(unescaped: Self.memberColumns) FROM staff s
            WHERE s.enrolment_token_sha256 = \(Data(digest)) AND s.enrolment_expires_at > now() AND s.disabled_at IS NULL
            """
        for try await row in try await database.client.query(query, logger: database.logger).decode(MemberRow.self) {
            return Self.member(row)
        }
        return nil
    }

    /// The member `id` while their enrolment link is live; nil once finished, reset, expired or disabled.
    public func stillEnrolling(id: Int64) async throws -> StaffMember? {
        guard let member = try await member(id: id), member.enrolledAt == nil, member.disabledAt == nil,
              let expires = member.enrolmentExpiresAt, expires > Date() else { return nil }
        return member
    }

    /// Sets the password hash of a member who is enrolling (`PasswordPolicy` and hashing are the caller's).
    public func setPassword(id: Int64, hash: String) async throws {
        try await database.client.query("""
            UPDATE staff SET password_hash = \(hash), updated_at = now() WHERE id = \(id) AND enrolled_at IS NULL
            """, logger: database.logger)
    }

    public func addPasskey(id: Int64, credentialID: [UInt8], publicKey: [UInt8], algorithm: Int, signCount: UInt32, backupEligible: Bool) async throws {
        var inserted = false
        for try await _ in try await database.client.query("""
            INSERT INTO staff_passkeys (credential_id, staff, public_key, algorithm, sign_count, backup_eligible)
            VALUES (\(Data(credentialID)), \(id), \(Data(publicKey)), \(algorithm), \(Int64(signCount)), \(backupEligible))
            ON CONFLICT (credential_id) DO NOTHING RETURNING staff
            """, logger: database.logger) { inserted = true }
        guard inserted else { throw StaffError.passkeyAlreadyRegistered }
    }

    /// Stores the member's authenticator app (its secret sealed with the console's key) and the step of the code that
    /// proved it, which can then not be used again.
    public func setTOTP(id: Int64, secret: [UInt8], usedStep: UInt64, key: SealingKey) async throws {
        let sealed = try key.seal(secret)
        try await database.client.query("""
            UPDATE staff SET totp_secret = \(sealed), totp_last_step = \(Int64(usedStep)), updated_at = now() WHERE id = \(id)
            """, logger: database.logger)
    }

    /// Ends the enrolment: the link is used up. Refused without a password and a passkey.
    public func finishEnrolment(id: Int64) async throws -> StaffMember {
        try await database.transaction { connection in
            var done: (String, Bool)?
            for try await row in try await connection.query("""
                UPDATE staff SET enrolled_at = now(), enrolment_token_sha256 = NULL, enrolment_expires_at = NULL, updated_at = now()
                WHERE id = \(id) AND enrolled_at IS NULL AND password_hash IS NOT NULL AND disabled_at IS NULL
                  AND enrolment_expires_at > now() AND EXISTS (SELECT 1 FROM staff_passkeys WHERE staff = \(id))
                RETURNING username, totp_secret IS NOT NULL
                """, logger: database.logger).decode((String, Bool).self) { done = row }
            guard let (username, totp) = done else { throw StaffError.enrolmentIncomplete }
            try await AuditLog(database).append(eventType: AuditEvent.staffEnrolled, actor: "staff:" + username, detail: [
                "staff": .string(username), "factors": .array([.string("passkey")] + (totp ? [.string("totp")] : [])),
            ], on: connection)
        }
        guard let member = try await member(id: id) else { throw StaffError.unknown("#\(id)") }
        return member
    }
}
