import Foundation
import GRDB

/// A patient as the edge knows them: what core pushed (name, birth date, e-mail) and what they enrolled.
public struct EdgePatient: Sendable, Equatable {
    public let ref: String
    /// DICOM PN form, `FAMILY^GIVEN`.
    public let name: String
    /// `YYYYMMDD`.
    public let birthDate: String
    public let email: String?
    public let passwordHash: String?
    public let hasTOTP: Bool
    public let passkeyCount: Int
    public let lockedAt: Date?
    public let enrolledAt: Date?

    public var isEnrolled: Bool { enrolledAt != nil }

    /// "Given Family" for greetings; a name registered in capitals (as DICOM names often are) is written as people
    /// write names ("DOE^JANE" → "Jane Doe").
    public var displayName: String {
        let parts = name.split(separator: "^", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let family = parts.first ?? "", given = parts.count > 1 ? parts[1] : ""
        let joined = [given, family].filter { !$0.isEmpty }.joined(separator: " ")
        return joined == joined.uppercased() ? joined.capitalized : joined
    }
}

/// A pending invitation, looked up by the digest of the token in the patient's link.
struct EdgeInvitation: Sendable {
    let digest: Data
    let patient: String
    let expiresAt: Date
    let birthDateFailures: Int
    let usedAt: Date?
    let voidedAt: Date?

    func isUsable(at now: Date) -> Bool { usedAt == nil && voidedAt == nil && expiresAt > now }
}

public enum LinkRefusal: Error, Equatable, CustomStringConvertible {
    case emailTaken
    case invalid(String)

    public var description: String {
        switch self {
        case .emailTaken: "another patient signs in with this e-mail address"
        case .invalid(let why): why
        }
    }
}

extension EdgeStore {
    static let patientColumns = """
        p.ref, p.name, p.birth_date, p.email, p.password_hash, p.totp_secret IS NOT NULL AS has_totp,
        (SELECT count(*) FROM passkeys k WHERE k.patient = p.ref) AS passkeys, p.locked_at, p.enrolled_at
        """

    static func patient(_ row: Row) -> EdgePatient {
        EdgePatient(ref: row["ref"], name: row["name"], birthDate: row["birth_date"], email: row["email"],
                    passwordHash: row["password_hash"], hasTOTP: row["has_totp"], passkeyCount: row["passkeys"],
                    lockedAt: (row["locked_at"] as Double?).map(Date.init(stored:)),
                    enrolledAt: (row["enrolled_at"] as Double?).map(Date.init(stored:)))
    }

    public func patient(ref: String) async throws -> EdgePatient? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.patientColumns) FROM patients p WHERE p.ref = ?", arguments: [ref]).map(Self.patient)
        }
    }

    public func patient(email: String) async throws -> EdgePatient? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.patientColumns) FROM patients p WHERE p.email = ?", arguments: [email]).map(Self.patient)
        }
    }

    /// What core pushes: the patient's registration and, when staff invited them, the invitation (replacing a
    /// pending one, so only the newest link works).
    public func upsertPatient(ref: String, name: String, birthDate: String, email: String?,
                              invitation: (digest: [UInt8], expiresAt: Date)?, now: Date = Date()) async throws {
        do {
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO patients (ref, name, birth_date, email, updated_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (ref) DO UPDATE SET name = excluded.name, birth_date = excluded.birth_date,
                        email = excluded.email, updated_at = excluded.updated_at
                    """, arguments: [ref, name, birthDate, email, now.stored])
                if let invitation {
                    try db.execute(sql: "UPDATE invitations SET voided_at = ? WHERE patient = ? AND used_at IS NULL AND voided_at IS NULL",
                                   arguments: [now.stored, ref])
                    try db.execute(sql: """
                        INSERT INTO invitations (token_digest, patient, expires_at) VALUES (?, ?, ?)
                        ON CONFLICT (token_digest) DO NOTHING
                        """, arguments: [Data(invitation.digest), ref, invitation.expiresAt.stored])
                }
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw LinkRefusal.emailTaken
        }
    }

    /// Staff unlocked the patient after second-factor lockout. False when the patient is unknown.
    public func unlock(ref: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE patients SET locked_at = NULL, second_factor_failures = 0 WHERE ref = ?", arguments: [ref])
            return db.changesCount > 0
        }
    }

    /// Voids the patient's pending invitations other than `except` (core revoked them); returns how many.
    public func voidInvitations(ref: String, except live: [UInt8]?, now: Date = Date()) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE invitations SET voided_at = ? WHERE patient = ? AND used_at IS NULL AND voided_at IS NULL
                    AND (? IS NULL OR token_digest <> ?)
                """, arguments: [now.stored, ref, live.map { Data($0) }, live.map { Data($0) }])
            return db.changesCount
        }
    }

    /// Staff reset the patient's second factor (a lost phone or passkey): their passkeys, authenticator secret and
    /// recovery codes are removed, their sessions end, a lockout is lifted, and they count as not enrolled, so the
    /// password alone signs nobody in; they enrol again from a new invitation. False when the patient is unknown.
    public func resetSecondFactor(ref: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE patients SET totp_secret = NULL, totp_last_step = NULL, second_factor_failures = 0, locked_at = NULL,
                    enrolled_at = NULL WHERE ref = ?
                """, arguments: [ref])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "DELETE FROM passkeys WHERE patient = ?", arguments: [ref])
            try db.execute(sql: "DELETE FROM recovery_codes WHERE patient = ?", arguments: [ref])
            try db.execute(sql: "DELETE FROM sessions WHERE patient = ?", arguments: [ref])
            return true
        }
    }

    func invitation(digest: [UInt8]) async throws -> EdgeInvitation? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM invitations WHERE token_digest = ?", arguments: [Data(digest)]).map { row in
                EdgeInvitation(digest: row["token_digest"], patient: row["patient"], expiresAt: Date(stored: row["expires_at"]),
                               birthDateFailures: row["birth_date_failures"],
                               usedAt: (row["used_at"] as Double?).map(Date.init(stored:)),
                               voidedAt: (row["voided_at"] as Double?).map(Date.init(stored:)))
            }
        }
    }

    /// Counts a wrong birth date; at `limit` the invitation is void. Returns the failures so far.
    func recordBirthDateFailure(digest: Data, limit: Int, now: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "UPDATE invitations SET birth_date_failures = birth_date_failures + 1 WHERE token_digest = ?", arguments: [digest])
            let failures = try Int.fetchOne(db, sql: "SELECT birth_date_failures FROM invitations WHERE token_digest = ?", arguments: [digest]) ?? limit
            if failures >= limit {
                try db.execute(sql: "UPDATE invitations SET voided_at = ? WHERE token_digest = ? AND voided_at IS NULL", arguments: [now.stored, digest])
            }
            return failures
        }
    }

    func setPassword(ref: String, hash: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE patients SET password_hash = ? WHERE ref = ?", arguments: [hash, ref])
        }
    }

    /// Finishes enrolment: the second factor and the recovery codes are stored, the invitation is used up, and any
    /// earlier enrolment's factors (a re-invited patient who lost their phone) are replaced.
    func completeEnrolment(ref: String, invitation: Data, totpSecret: [UInt8]?, passkey: StoredPasskey?,
                           recoveryDigests: [[UInt8]], now: Date) async throws -> Bool {
        let sealed = try totpSecret.map { try seal($0) }
        do {
            return try await enrol(ref: ref, invitation: invitation, sealed: sealed, passkey: passkey, recoveryDigests: recoveryDigests, now: now)
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY && passkey != nil {
            // WebAuthn §7.1: a credential already registered (to anyone) is refused, never moved to this account.
            throw EnrolmentRefusal.passkeyAlreadyRegistered
        }
    }

    private func enrol(ref: String, invitation: Data, sealed: Data?, passkey: StoredPasskey?, recoveryDigests: [[UInt8]],
                       now: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE invitations SET used_at = ? WHERE token_digest = ? AND used_at IS NULL AND voided_at IS NULL AND expires_at > ?",
                           arguments: [now.stored, invitation, now.stored])
            guard db.changesCount == 1 else { return false }
            try db.execute(sql: "DELETE FROM passkeys WHERE patient = ?", arguments: [ref])
            try db.execute(sql: "DELETE FROM recovery_codes WHERE patient = ?", arguments: [ref])
            try db.execute(sql: """
                UPDATE patients SET totp_secret = ?, totp_last_step = NULL, second_factor_failures = 0, locked_at = NULL,
                    enrolled_at = ? WHERE ref = ?
                """, arguments: [sealed, now.stored, ref])
            if let passkey {
                try db.execute(sql: "INSERT INTO passkeys (credential_id, patient, public_key, sign_count, created_at) VALUES (?, ?, ?, ?, ?)",
                               arguments: [Data(passkey.credentialID), ref, Data(passkey.publicKey), Int64(passkey.signCount), now.stored])
            }
            for digest in recoveryDigests {
                try db.execute(sql: "INSERT OR IGNORE INTO recovery_codes (patient, digest) VALUES (?, ?)", arguments: [ref, Data(digest)])
            }
            return true
        }
    }

    /// The patient's TOTP secret and the last time step accepted (a code is good once).
    func totp(ref: String) async throws -> (secret: [UInt8], lastStep: UInt64?)? {
        let found: (Data, Int64?)? = try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT totp_secret, totp_last_step FROM patients WHERE ref = ?", arguments: [ref]).flatMap { row in
                (row["totp_secret"] as Data?).map { ($0, row["totp_last_step"] as Int64?) }
            }
        }
        guard let (sealed, lastStep) = found else { return nil }
        return (try open(sealed), lastStep.map { UInt64($0) })
    }

    /// Records `step` as used, only if it is later than the last one used: two requests racing with the same code
    /// cannot both pass.
    func useTOTPStep(ref: String, step: UInt64) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE patients SET totp_last_step = ? WHERE ref = ? AND (totp_last_step IS NULL OR totp_last_step < ?)
                """, arguments: [Int64(step), ref, Int64(step)])
            return db.changesCount == 1
        }
    }

    /// Counts a failed second factor; at `limit` consecutive failures the account locks. Returns whether it is locked.
    func recordSecondFactorFailure(ref: String, limit: Int, now: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE patients SET second_factor_failures = second_factor_failures + 1 WHERE ref = ?", arguments: [ref])
            try db.execute(sql: "UPDATE patients SET locked_at = ? WHERE ref = ? AND locked_at IS NULL AND second_factor_failures >= ?",
                           arguments: [now.stored, ref, limit])
            return try Bool.fetchOne(db, sql: "SELECT locked_at IS NOT NULL FROM patients WHERE ref = ?", arguments: [ref]) ?? false
        }
    }

    func resetSecondFactorFailures(ref: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE patients SET second_factor_failures = 0 WHERE ref = ?", arguments: [ref])
        }
    }

    /// Uses up a recovery code, unlocking the account; returns the codes left, or nil when the code is not one of
    /// the patient's unused codes.
    func useRecoveryCode(ref: String, digest: [UInt8], now: Date) async throws -> Int? {
        try await pool.write { db in
            try db.execute(sql: "UPDATE recovery_codes SET used_at = ? WHERE patient = ? AND digest = ? AND used_at IS NULL",
                           arguments: [now.stored, ref, Data(digest)])
            guard db.changesCount == 1 else { return nil }
            try db.execute(sql: "UPDATE patients SET locked_at = NULL, second_factor_failures = 0 WHERE ref = ?", arguments: [ref])
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM recovery_codes WHERE patient = ? AND used_at IS NULL", arguments: [ref]) ?? 0
        }
    }

    func passkeys(ref: String) async throws -> [StoredPasskey] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT credential_id, public_key, sign_count FROM passkeys WHERE patient = ?", arguments: [ref]).map { row in
                StoredPasskey(credentialID: Array(row["credential_id"] as Data), publicKey: Array(row["public_key"] as Data),
                              signCount: UInt32(clamping: row["sign_count"] as Int64))
            }
        }
    }

    func updatePasskey(credentialID: [UInt8], signCount: UInt32, now: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE passkeys SET sign_count = ?, last_used_at = ? WHERE credential_id = ?",
                           arguments: [Int64(signCount), now.stored, Data(credentialID)])
        }
    }
}

enum EnrolmentRefusal: Error { case passkeyAlreadyRegistered }

/// A registered passkey: its credential id, COSE public key and signature counter.
struct StoredPasskey: Sendable, Equatable {
    let credentialID: [UInt8]
    let publicKey: [UInt8]
    let signCount: UInt32
}
