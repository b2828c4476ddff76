import Foundation
import GRDB

/// A browser session as stored: found by the SHA-256 of the cookie's value, never by the value itself.
struct EdgeSession: Sendable, Equatable {
    enum State: String, Sendable { case anonymous, enrolling, secondFactor = "second-factor", signedIn = "signed-in" }
    enum EnrolmentStep: String, Sendable { case birthDate = "birth-date", password, secondFactor = "second-factor", recoveryCodes = "recovery-codes" }

    var digest: Data
    var state: State
    var patient: String?
    var invitation: Data?
    var enrolmentStep: EnrolmentStep?
    var csrf: String
    let createdAt: Date
    var lastSeenAt: Date
    var authenticatedAt: Date?
    var stepUpAt: Date?
    var challenge: Data?
    var challengePurpose: String?
    var challengeExpiresAt: Date?
    /// The sealed TOTP secret offered during enrolment, kept until the patient proves their app has it.
    var pendingTOTP: Data?
}

extension EdgeStore {
    func session(digest: Data) async throws -> EdgeSession? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM sessions WHERE id_digest = ?", arguments: [digest]).map(Self.session)
        }
    }

    static func session(_ row: Row) -> EdgeSession {
        EdgeSession(
            digest: row["id_digest"], state: EdgeSession.State(rawValue: row["state"]) ?? .anonymous, patient: row["patient"],
            invitation: row["invitation"], enrolmentStep: (row["enrolment_step"] as String?).flatMap(EdgeSession.EnrolmentStep.init),
            csrf: row["csrf"], createdAt: Date(stored: row["created_at"]), lastSeenAt: Date(stored: row["last_seen_at"]),
            authenticatedAt: (row["authenticated_at"] as Double?).map(Date.init(stored:)),
            stepUpAt: (row["step_up_at"] as Double?).map(Date.init(stored:)), challenge: row["challenge"],
            challengePurpose: row["challenge_purpose"],
            challengeExpiresAt: (row["challenge_expires_at"] as Double?).map(Date.init(stored:)), pendingTOTP: row["pending_totp"])
    }

    /// Stores `session` under its digest; with `replacing`, the row of that earlier digest goes in the same
    /// transaction (the id rotates: a cookie planted before sign-in is worthless after it).
    func save(_ session: EdgeSession, address: String?, replacing old: Data? = nil) async throws {
        try await pool.write { db in
            if let old, old != session.digest { try db.execute(sql: "DELETE FROM sessions WHERE id_digest = ?", arguments: [old]) }
            try db.execute(sql: """
                INSERT INTO sessions (id_digest, state, patient, invitation, enrolment_step, csrf, address, created_at, last_seen_at,
                    authenticated_at, step_up_at, challenge, challenge_purpose, challenge_expires_at, pending_totp)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id_digest) DO UPDATE SET state = excluded.state, patient = excluded.patient,
                    invitation = excluded.invitation, enrolment_step = excluded.enrolment_step, csrf = excluded.csrf,
                    address = excluded.address, last_seen_at = excluded.last_seen_at, authenticated_at = excluded.authenticated_at,
                    step_up_at = excluded.step_up_at, challenge = excluded.challenge, challenge_purpose = excluded.challenge_purpose,
                    challenge_expires_at = excluded.challenge_expires_at, pending_totp = excluded.pending_totp
                """, arguments: [
                    session.digest, session.state.rawValue, session.patient, session.invitation, session.enrolmentStep?.rawValue,
                    session.csrf, address, session.createdAt.stored, session.lastSeenAt.stored, session.authenticatedAt?.stored,
                    session.stepUpAt?.stored, session.challenge, session.challengePurpose, session.challengeExpiresAt?.stored,
                    session.pendingTOTP,
                ])
        }
    }

    /// Marks the session seen now, at most once a minute (a tus upload makes many requests).
    func touch(_ digest: Data, now: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE sessions SET last_seen_at = ? WHERE id_digest = ? AND last_seen_at < ?",
                           arguments: [now.stored, digest, now.stored - 60])
        }
    }

    func deleteSession(_ digest: Data) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM sessions WHERE id_digest = ?", arguments: [digest]) }
    }

    /// Takes the session's pending WebAuthn challenge (once: a second use finds none).
    func takeChallenge(_ digest: Data, purpose: String, now: Date) async throws -> Data? {
        try await pool.write { db in
            let row = try Row.fetchOne(db, sql: "SELECT challenge, challenge_purpose, challenge_expires_at FROM sessions WHERE id_digest = ?", arguments: [digest])
            try db.execute(sql: "UPDATE sessions SET challenge = NULL, challenge_purpose = NULL, challenge_expires_at = NULL WHERE id_digest = ?",
                           arguments: [digest])
            guard let row, let challenge = row["challenge"] as Data?, (row["challenge_purpose"] as String?) == purpose,
                  let expires = row["challenge_expires_at"] as Double?, expires > now.stored else { return nil }
            return challenge
        }
    }

    /// Removes sessions idle past `idle` or older than `absolute`.
    func expireSessions(idle: TimeInterval, absolute: TimeInterval, now: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?",
                           arguments: [now.stored - idle, now.stored - absolute])
            return db.changesCount
        }
    }

    /// Every session of a patient: ended when their account locks or they sign out everywhere.
    func deleteSessions(patient: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM sessions WHERE patient = ?", arguments: [patient]) }
    }
}
