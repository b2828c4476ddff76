import Foundation
import Hummingbird
import WebSecurity

/// Browser sessions: a 256-bit random id in the `__Host-` cookie (`SessionCookie`), stored only as its SHA-256; a synchronizer CSRF token per id; idle and absolute timeouts; a new id at
/// every change of who the session is (enrolment steps, sign-in, step-up), so an id planted or seen earlier is
/// worthless afterwards.
struct SessionGate: Sendable {
    let store: EdgeStore
    let timeouts: SessionTimeouts

    /// The session the request's cookie names, if it exists and has not timed out (a timed-out one is deleted).
    func load(_ request: Request, now: Date) async throws -> EdgeSession? {
        guard let token = SessionCookie.token(in: request), let digest = SessionCookie.digest(token) else { return nil }
        guard let session = try await store.session(digest: digest) else { return nil }
        if timeouts.expired(lastSeenAt: session.lastSeenAt, createdAt: session.createdAt, authenticatedAt: session.authenticatedAt,
                            signedIn: session.state == .signedIn, now: now) {
            try await store.deleteSession(digest)
            return nil
        }
        try await store.touch(digest, now: now)
        return session
    }

    /// A new anonymous session and the cookie value naming it.
    func start(now: Date) -> (session: EdgeSession, token: String) {
        let (token, digest) = SessionCookie.newID()
        return (EdgeSession(digest: digest, state: .anonymous, csrf: SessionCookie.randomToken(), createdAt: now, lastSeenAt: now), token)
    }
}
