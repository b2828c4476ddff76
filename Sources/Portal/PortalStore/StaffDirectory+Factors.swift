import Credentials
import Foundation
import PostgresNIO

/// The second factors at sign-in: passkeys (their counters), the authenticator app (each code's step used once),
/// and the count of consecutive failures that locks the account.
extension StaffDirectory {
    public func passkeys(id: Int64) async throws -> [StaffPasskey] {
        var keys: [StaffPasskey] = []
        for try await (credential, key, count) in try await database.client.query("""
            SELECT credential_id, public_key, sign_count FROM staff_passkeys WHERE staff = \(id) ORDER BY created_at
            """, logger: database.logger).decode((Data, Data, Int64).self) {
            keys.append(StaffPasskey(credentialID: Array(credential), publicKey: Array(key), signCount: UInt32(clamping: count)))
        }
        return keys
    }

    public func updatePasskey(credentialID: [UInt8], signCount: UInt32) async throws {
        try await database.client.query("""
            UPDATE staff_passkeys SET sign_count = \(Int64(signCount)), last_used_at = now() WHERE credential_id = \(Data(credentialID))
            """, logger: database.logger)
    }

    /// The member's authenticator app secret (opened with the console's key) and the last step used; nil without one.
    public func totp(id: Int64, key: SealingKey) async throws -> (secret: [UInt8], lastStep: UInt64?)? {
        for try await (sealed, last) in try await database.client.query("""
            SELECT totp_secret, totp_last_step FROM staff WHERE id = \(id) AND totp_secret IS NOT NULL
            """, logger: database.logger).decode((Data, Int64?).self) {
            return (try key.open(sealed), last.map { UInt64(max(0, $0)) })
        }
        return nil
    }

    /// Marks `step` used; false when it, or a later one, already was (a replayed code).
    public func useTOTPStep(id: Int64, step: UInt64) async throws -> Bool {
        var used = false
        for try await _ in try await database.client.query("""
            UPDATE staff SET totp_last_step = \(Int64(step)) WHERE id = \(id) AND (totp_last_step IS NULL OR totp_last_step < \(Int64(step)))
            RETURNING id
            """, logger: database.logger) { used = true }
        return used
    }

    /// Counts a wrong second factor (audited); at `secondFactorAttempts` in a row the account locks (audited) until
    /// an administrator unlocks it. Returns whether it is locked now.
    public func secondFactorFailed(id: Int64, username: String, method: String, address: String?) async throws -> Bool {
        try await database.transaction { connection in
            var locked = false
            for try await (failures, lockedAt) in try await connection.query("""
                UPDATE staff SET second_factor_failures = second_factor_failures + 1,
                    locked_at = CASE WHEN second_factor_failures + 1 >= \(Self.secondFactorAttempts) THEN coalesce(locked_at, now()) ELSE locked_at END
                WHERE id = \(id) RETURNING second_factor_failures, locked_at
                """, logger: database.logger).decode((Int32, Date?).self) {
                locked = lockedAt != nil && Int(failures) >= Self.secondFactorAttempts
            }
            let actor = "staff:" + username
            var detail: [String: JSONValue] = ["staff": .string(username), "method": .string(method)]
            if let address { detail["address"] = .string(address) }
            try await AuditLog(database).append(eventType: AuditEvent.staffSecondFactorFailed, actor: actor, detail: detail, on: connection)
            if locked {
                try await AuditLog(database).append(eventType: AuditEvent.staffLocked, actor: actor, detail: ["staff": .string(username)], on: connection)
            }
            return locked
        }
    }

    /// A right second factor clears the count.
    public func secondFactorPassed(id: Int64) async throws {
        try await database.client.query("UPDATE staff SET second_factor_failures = 0 WHERE id = \(id)", logger: database.logger)
    }
}
