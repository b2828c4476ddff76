import Credentials
import Foundation
import Logging
import PostgresNIO

/// The console's staff accounts (table `staff` and `staff_passkeys`): adding members with a one-time enrolment
/// link, their enrolment (password, a required passkey, an optional authenticator app), roles, disabling, resets
/// and unlocks. Every change is audited in the same transaction, actor the acting member (`staff:<username>`) or
/// the command line, detail `"staff"`: the member's username.
public struct StaffDirectory: Sendable {
    let database: PortalDatabase
    private var logger: Logger { database.logger }

    /// How long an enrolment link works.
    public static let enrolmentLifetime: TimeInterval = 72 * 3600
    /// Consecutive wrong second factors before the account locks.
    public static let secondFactorAttempts = 5

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    static let memberColumns = """
        s.id, s.username, s.display_name, s.email, s.role, s.password_hash IS NOT NULL, s.totp_secret IS NOT NULL,
        (SELECT count(*) FROM staff_passkeys p WHERE p.staff = s.id), s.enrolled_at, s.second_factor_failures, s.locked_at,
        s.disabled_at, s.enrolment_expires_at, s.created_at
        """

    typealias MemberRow = (Int64, String, String, String?, String, Bool, Bool, Int64, Date?, Int32, Date?, Date?, Date?, Date)

    static func member(_ row: MemberRow) -> StaffMember {
        StaffMember(id: row.0, username: row.1, displayName: row.2, email: row.3, role: StaffRole(rawValue: row.4) ?? .auditor,
                    hasPassword: row.5, hasTOTP: row.6, passkeyCount: Int(row.7), enrolledAt: row.8, secondFactorFailures: Int(row.9),
                    lockedAt: row.10, disabledAt: row.11, enrolmentExpiresAt: row.12, createdAt: row.13)
    }

    private func members(_ query: PostgresQuery, on connection: PostgresConnection? = nil) async throws -> [StaffMember] {
        let rows = if let connection { try await connection.query(query, logger: logger) } else { try await database.client.query(query, logger: logger) }
        var members: [StaffMember] = []
        for try await row in rows.decode(MemberRow.self) { members.append(Self.member(row)) }
        return members
    }

    // MARK: Members

    /// Adds a member who has yet to enrol; returns the enrolment link's token (valid `enrolmentLifetime`).
    public func add(username: String, displayName: String, email: String?, role: StaffRole, actor: String) async throws -> StaffEnrolment {
        guard StaffMember.isValidUsername(username) else {
            throw StaffError.invalid("a username is 1-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        let name = displayName.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.count <= 120, name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw StaffError.invalid("the display name must be 1-120 characters without control characters")
        }
        if let email {
            let parts = email.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), email.utf8.count <= 254,
                  !email.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," }) else {
                throw StaffError.invalid("'\(email)' is not an e-mail address")
            }
        }
        let token = OneTimeToken.generate()
        let digest = Data(token.digest)
        let lifetime = Self.enrolmentLifetime
        return try await database.transaction { connection in
            var id: Int64?
            for try await value in try await connection.query("""
                INSERT INTO staff (username, display_name, email, role, enrolment_token_sha256, enrolment_expires_at)
                VALUES (\(username), \(name), \(email), \(role.rawValue), \(digest), now() + make_interval(secs => \(lifetime)))
                ON CONFLICT (username) DO NOTHING RETURNING id
                """, logger: logger).decode(Int64.self) { id = value }
            guard let id else { throw StaffError.usernameTaken(username) }
            try await AuditLog(database).append(eventType: AuditEvent.staffAdded, actor: actor,
                                                detail: ["staff": .string(username), "role": .string(role.rawValue)], on: connection)
            return try await enrolment(id: id, token: token, on: connection)
        }
    }

    private func enrolment(id: Int64, token: OneTimeToken, on connection: PostgresConnection) async throws -> StaffEnrolment {
        guard let member = try await members("SELECT \(unescaped: Self.memberColumns) FROM staff s WHERE s.id = \(id)", on: connection).first,
              let expires = member.enrolmentExpiresAt else { throw StaffError.unknown("#\(id)") }
        return StaffEnrolment(member: member, token: token.text, expiresAt: expires)
    }

    public func member(username: String) async throws -> StaffMember? {
        try await members("SELECT \(unescaped: Self.memberColumns) FROM staff s WHERE s.username = \(username)").first
    }

    public func member(id: Int64) async throws -> StaffMember? {
        try await members("SELECT \(unescaped: Self.memberColumns) FROM staff s WHERE s.id = \(id)").first
    }

    /// Every member, by username.
    public func list() async throws -> [StaffMember] {
        try await members("SELECT \(unescaped: Self.memberColumns) FROM staff s ORDER BY s.username")
    }

    /// The member and their password hash, for the password step of sign-in.
    public func passwordHash(username: String) async throws -> (member: StaffMember, hash: String?)? {
        guard let member = try await member(username: username) else { return nil }
        for try await hash in try await database.client.query("SELECT password_hash FROM staff WHERE id = \(member.id)",
                                                               logger: logger).decode(String?.self) {
            return (member, hash)
        }
        return nil
    }

    public func changeRole(username: String, to role: StaffRole, actor: String) async throws {
        try await change(username, event: AuditEvent.staffRoleChanged, actor: actor, extra: ["role": .string(role.rawValue)]) { id, connection in
            try await connection.query("UPDATE staff SET role = \(role.rawValue), updated_at = now() WHERE id = \(id)", logger: logger)
        }
    }

    /// A disabled member cannot sign in; their sessions end now.
    public func disable(username: String, actor: String) async throws {
        try await change(username, event: AuditEvent.staffDisabled, actor: actor) { id, connection in
            try await connection.query("UPDATE staff SET disabled_at = now(), updated_at = now() WHERE id = \(id)", logger: logger)
            try await connection.query("DELETE FROM staff_sessions WHERE staff = \(id)", logger: logger)
        }
    }

    public func enable(username: String, actor: String) async throws {
        try await change(username, event: AuditEvent.staffEnabled, actor: actor) { id, connection in
            try await connection.query("UPDATE staff SET disabled_at = NULL, updated_at = now() WHERE id = \(id)", logger: logger)
        }
    }

    /// Clears the member's password and second factors and ends their sessions; they enrol again with the new link.
    public func reset(username: String, actor: String) async throws -> StaffEnrolment {
        let token = OneTimeToken.generate()
        let digest = Data(token.digest)
        let lifetime = Self.enrolmentLifetime
        return try await database.transaction { connection in
            let id = try await lockMember(username, on: connection)
            try await connection.query("DELETE FROM staff_passkeys WHERE staff = \(id)", logger: logger)
            try await connection.query("DELETE FROM staff_sessions WHERE staff = \(id)", logger: logger)
            try await connection.query("""
                UPDATE staff SET password_hash = NULL, totp_secret = NULL, totp_last_step = NULL, enrolled_at = NULL,
                    second_factor_failures = 0, locked_at = NULL, enrolment_token_sha256 = \(digest),
                    enrolment_expires_at = now() + make_interval(secs => \(lifetime)), updated_at = now()
                WHERE id = \(id)
                """, logger: logger)
            try await AuditLog(database).append(eventType: AuditEvent.staffReset, actor: actor, detail: ["staff": .string(username)], on: connection)
            return try await enrolment(id: id, token: token, on: connection)
        }
    }

    /// Lifts a lock after too many wrong second factors.
    public func unlock(username: String, actor: String) async throws {
        try await change(username, event: AuditEvent.staffUnlocked, actor: actor) { id, connection in
            try await connection.query("UPDATE staff SET locked_at = NULL, second_factor_failures = 0, updated_at = now() WHERE id = \(id)",
                                       logger: logger)
        }
    }

    /// Runs `body` on the member's locked row, refuses a change that leaves no enabled administrator where there was
    /// one (a directory without any, before the first is made, can still unlock or reset a reviewer), and audits `event`.
    private func change(_ username: String, event: String, actor: String, extra: [String: JSONValue] = [:],
                        _ body: (Int64, PostgresConnection) async throws -> Void) async throws {
        try await database.transaction { connection in
            let id = try await lockMember(username, on: connection)
            let before = try await enabledAdministrators(on: connection)
            try await body(id, connection)
            let after = try await enabledAdministrators(on: connection)
            guard before == 0 || after > 0 else { throw StaffError.lastAdministrator }
            var detail = extra
            detail["staff"] = .string(username)
            try await AuditLog(database).append(eventType: event, actor: actor, detail: detail, on: connection)
        }
    }

    private func enabledAdministrators(on connection: PostgresConnection) async throws -> Int64 {
        var administrators: Int64 = 0
        for try await count in try await connection.query("""
            SELECT count(*) FROM staff WHERE role = 'administrator' AND disabled_at IS NULL
            """, logger: logger).decode(Int64.self) { administrators = count }
        return administrators
    }

    private func lockMember(_ username: String, on connection: PostgresConnection) async throws -> Int64 {
        // Administrators are counted under this lock, so two demotions at once cannot both pass the last-one check.
        try await connection.query("LOCK TABLE staff IN SHARE ROW EXCLUSIVE MODE", logger: logger)
        for try await id in try await connection.query("SELECT id FROM staff WHERE username = \(username)", logger: logger).decode(Int64.self) {
            return id
        }
        throw StaffError.unknown(username)
    }

    /// Audits a sign-in event (signed in, a failed attempt, signed out) in a transaction of its own.
    public func record(_ event: String, username: String, actor: String, detail extra: [String: JSONValue] = [:]) async throws {
        var detail = extra
        detail["staff"] = .string(username)
        try await AuditLog(database).append(eventType: event, actor: actor, detail: detail)
    }
}
