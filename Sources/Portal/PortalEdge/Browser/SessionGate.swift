import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import WebAuthn

/// Browser sessions: a 256-bit random id in a `__Host-` cookie (Secure, HttpOnly, SameSite=Strict, Path=/, no
/// Domain), stored only as its SHA-256; a synchronizer CSRF token per id; idle and absolute timeouts; a new id at
/// every change of who the session is (enrolment steps, sign-in, step-up), so an id planted or seen earlier is
/// worthless afterwards.
struct SessionGate: Sendable {
    static let cookieName = "__Host-session"

    let store: EdgeStore
    /// Without a request for this long, a session ends.
    let idle: TimeInterval
    /// A signed-in session ends this long after sign-in whatever happens.
    let absolute: TimeInterval
    /// Sessions not (yet) signed in: anonymous, enrolling, waiting for the second factor.
    let absoluteUnauthenticated: TimeInterval = 3600

    /// The session the request's cookie names, if it exists and has not timed out (a timed-out one is deleted).
    func load(_ request: Request, now: Date) async throws -> EdgeSession? {
        guard let token = Self.cookie(in: request), let digest = Self.digest(token) else { return nil }
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
        let token = Self.randomToken()
        return (EdgeSession(digest: Self.digest(token)!, state: .anonymous, csrf: Self.randomToken(), createdAt: now, lastSeenAt: now),
                token)
    }

    /// The same session under a new id and CSRF token (the caller saves it with `replacing:` the old digest).
    func rotate(_ session: EdgeSession, now: Date) -> (session: EdgeSession, token: String) {
        let token = Self.randomToken()
        var rotated = session
        rotated.digest = Self.digest(token)!
        rotated.csrf = Self.randomToken()
        rotated.lastSeenAt = now
        // A WebAuthn challenge belongs to the id it was issued to.
        rotated.challenge = nil
        rotated.challengePurpose = nil
        rotated.challengeExpiresAt = nil
        return (rotated, token)
    }

    static func setCookie(_ token: String) -> String {
        "\(cookieName)=\(token); Path=/; Secure; HttpOnly; SameSite=Strict"
    }

    static let clearCookie = "\(cookieName)=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"

    static func cookie(in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let trimmed = pair.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix(cookieName + "=") { return String(trimmed.dropFirst(cookieName.count + 1)) }
            }
        }
        return nil
    }

    /// The digest a cookie value is stored under; nil for anything that is not a token we could have made.
    static func digest(_ token: String) -> Data? {
        guard token.utf8.count == 43, token.utf8.allSatisfy(isBase64URL) else { return nil }
        return Data(SHA256.hash(data: Data(token.utf8)))
    }

    static func randomToken() -> String {
        Base64URL.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2D || byte == 0x5F
    }
}
