import Foundation
import Hummingbird
import WebSecurity

/// Browser sessions: a 256-bit random id in the `__Host-` cookie (`SessionCookie`), stored only as its SHA-256; a synchronizer CSRF token per id; idle and absolute timeouts; a new id at
/// every change of who the session is (enrolment steps, sign-in, step-up), so an id planted or seen earlier is
/// worthless afterwards.
struct SessionGate: Sendable {
    let store: EdgeStore
    /// Without a request for this long, a session ends.
    let idle: TimeInterval
    /// A signed-in session ends this long after sign-in whatever happens.
    let absolute: TimeInterval
    /// Sessions not (yet) signed in: anonymous, enrolling, waiting for the second factor.
    let absoluteUnauthenticated: TimeInterval = 3600

    /// The session the request's cookie names, if it exists and has not timed out (a timed-out one is deleted).
    func load(_ request: Request, now: Date) async throws -> EdgeSession? {
        guard let token = SessionCookie.token(in: request), let digest = SessionCookie.digest(token) else { return nil }
        guard let session = try await store.session(digest: digest) else { return nil }
        let limit = session.state == .signedIn ? absolute : absoluteUnauthenticated
        let started = session.authenticatedAt ?? session.createdAt
        if now.timeIntervalSince(session.lastSeenAt) > idle || now.timeIntervalSince(started) > limit {
            try await store.deleteSession(digest)
            return nil
        }
        try await store.touch(digest, now: now)
        return session
    }

    /// A new anonymous session and the cookie value naming it.
    func start(now: Date) -> (session: EdgeSession, token: String) {
        let token = SessionCookie.randomToken()
        return (EdgeSession(digest: SessionCookie.digest(token)!, state: .anonymous, csrf: SessionCookie.randomToken(), createdAt: now, lastSeenAt: now),
                token)
    }

    /// The same session under a new id and CSRF token (the caller saves it with `replacing:` the old digest).
    func rotate(_ session: EdgeSession, now: Date) -> (session: EdgeSession, token: String) {
        let token = SessionCookie.randomToken()
        var rotated = session
        rotated.digest = SessionCookie.digest(token)!
        rotated.csrf = SessionCookie.randomToken()
        rotated.lastSeenAt = now
        // A WebAuthn challenge belongs to the id it was issued to.
        rotated.challenge = nil
        rotated.challengePurpose = nil
        rotated.challengeExpiresAt = nil
        return (rotated, token)
    }
}
