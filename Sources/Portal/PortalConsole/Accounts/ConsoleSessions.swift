import Foundation
import Hummingbird
import PortalStore
import WebSecurity

/// Console sessions, by the patient site's rules: a 256-bit id in the `__Host-session` cookie (`SessionCookie`), only
/// its SHA-256 stored; a CSRF token per id; idle and absolute timeouts; a new id at every change of who the session
/// is (each enrolment step, each sign-in step). The member is read afresh on every request, so a role change or a
/// disabled account takes effect at once.
struct ConsoleSessions: Sendable {
    let store: StaffSessionStore
    let directory: StaffDirectory
    let timeouts: SessionTimeouts

    /// The session the request's cookie names, if it exists, has not timed out and its member may still use it.
    func load(_ request: Request, now: Date) async throws -> StaffSession? {
        guard let token = SessionCookie.token(in: request), let digest = SessionCookie.digest(token),
              let record = try await store.session(digest: digest) else { return nil }
        if timeouts.expired(lastSeenAt: record.lastSeenAt, createdAt: record.createdAt, authenticatedAt: record.authenticatedAt,
                            signedIn: record.state == StaffSession.State.signedIn.rawValue, now: now) {
            try await store.delete(digest)
            return nil
        }
        guard var session = try await Self.session(record, directory: directory) else {
            try await store.delete(digest)
            return nil
        }
        try await store.touch(digest, now: now)
        session.lastSeenAt = now
        return session
    }

    /// The stored record as handlers see it; nil when its member is gone or disabled, or a signed-in member is no
    /// longer enrolled (reset).
    static func session(_ record: StaffSessionRecord, directory: StaffDirectory) async throws -> StaffSession? {
        guard let state = StaffSession.State(rawValue: record.state) else { return nil }
        var staff: SignedInStaff?
        if let id = record.staffID {
            guard let member = try await directory.member(id: id), member.disabledAt == nil else { return nil }
            if state == .signedIn && !member.isEnrolled { return nil }
            staff = SignedInStaff(id: member.id, username: member.username, displayName: member.displayName, role: member.role)
        }
        var session = StaffSession(digest: record.digest, state: state, csrf: record.csrf, staff: staff, staffID: record.staffID,
                                   createdAt: record.createdAt, lastSeenAt: record.lastSeenAt)
        session.challenge = record.challenge
        session.challengePurpose = record.challengePurpose
        session.challengeExpiresAt = record.challengeExpiresAt
        session.authenticatedAt = record.authenticatedAt
        session.secondFactorAt = record.secondFactorAt
        return session
    }

    static func record(_ session: StaffSession) -> StaffSessionRecord {
        StaffSessionRecord(digest: session.digest, state: session.state.rawValue, csrf: session.csrf, staffID: session.staffID,
                           challenge: session.challenge, challengePurpose: session.challengePurpose,
                           challengeExpiresAt: session.challengeExpiresAt, createdAt: session.createdAt, lastSeenAt: session.lastSeenAt,
                           authenticatedAt: session.authenticatedAt, secondFactorAt: session.secondFactorAt)
    }

    /// A new anonymous session and the cookie value naming it.
    func start(now: Date) -> (session: StaffSession, token: String) {
        let (token, digest) = SessionCookie.newID()
        return (StaffSession(digest: digest, state: .anonymous, csrf: SessionCookie.randomToken(), createdAt: now, lastSeenAt: now), token)
    }

    func save(_ session: StaffSession, address: String?, replacing old: Data? = nil) async throws {
        try await store.save(Self.record(session), address: address, replacing: old)
    }
}
