import Foundation
import Hummingbird

/// What a browser session is on both sites (patients' edge, staff console), whoever it belongs to: the digest of
/// its cookie's id, its CSRF token, when it was last used, and the WebAuthn challenge issued to it.
public protocol BrowserSession: Sendable {
    var digest: Data { get set }
    var csrf: String { get set }
    var lastSeenAt: Date { get set }
    var challenge: Data? { get set }
    var challengePurpose: String? { get set }
    var challengeExpiresAt: Date? { get set }
}

extension BrowserSession {
    /// The same session under a new id and CSRF token (the caller saves it `replacing:` the old digest), so an id
    /// planted or seen earlier is worthless afterwards.
    public func rotated(now: Date) -> (session: Self, token: String) {
        let (token, digest) = SessionCookie.newID()
        var rotated = self
        rotated.digest = digest
        rotated.csrf = SessionCookie.randomToken()
        rotated.lastSeenAt = now
        // A WebAuthn challenge belongs to the id it was issued to.
        rotated.challenge = nil
        rotated.challengePurpose = nil
        rotated.challengeExpiresAt = nil
        return (rotated, token)
    }
}

extension BrowserSession {
    /// The session holding a WebAuthn challenge for `purpose` until `expiresAt` (the caller saves it).
    public func holding(_ challenge: Data, purpose: String, expiresAt: Date) -> Self {
        var next = self
        next.challenge = challenge
        next.challengePurpose = purpose
        next.challengeExpiresAt = expiresAt
        return next
    }
}

/// When a session ends: after `idle` without a request, or `absolute` after sign-in whatever happens; a session
/// not (yet) signed in (anonymous, enrolling, waiting for the second factor) after `absoluteUnauthenticated`.
public struct SessionTimeouts: Sendable {
    public let idle: TimeInterval
    public let absolute: TimeInterval
    public let absoluteUnauthenticated: TimeInterval

    public init(idle: TimeInterval, absolute: TimeInterval, absoluteUnauthenticated: TimeInterval = 3600) {
        self.idle = idle; self.absolute = absolute; self.absoluteUnauthenticated = absoluteUnauthenticated
    }

    public func expired(lastSeenAt: Date, createdAt: Date, authenticatedAt: Date?, signedIn: Bool, now: Date) -> Bool {
        let started = authenticatedAt ?? createdAt
        return now.timeIntervalSince(lastSeenAt) > idle || now.timeIntervalSince(started) > (signedIn ? absolute : absoluteUnauthenticated)
    }
}

/// Both sites' middleware: every answer gets the security headers (and `no-store` where `noStore` says), and a
/// refusal thrown anywhere is answered as its JSON; requests `guarded` says get their session loaded (`load`, put in
/// the context by `attach`), and those that change something must come from the site's own page (`CSRF`).
public struct BrowserMiddleware<Context: RequestContext, Session: BrowserSession>: RouterMiddleware {
    let origins: Set<String>
    let guarded: @Sendable (_ path: String) -> Bool
    let noStore: @Sendable (_ path: String) -> Bool
    let load: @Sendable (Request, Date) async throws -> Session?
    let attach: @Sendable (inout Context, Session?) -> Void
    let now: @Sendable () -> Date

    /// `origins`: `https://host:port` as browsers send it in Origin. `noStore` defaults to `guarded`.
    public init(origins: Set<String>, guarded: @escaping @Sendable (_ path: String) -> Bool,
                noStore: (@Sendable (_ path: String) -> Bool)? = nil,
                load: @escaping @Sendable (Request, Date) async throws -> Session?,
                attach: @escaping @Sendable (inout Context, Session?) -> Void, now: @escaping @Sendable () -> Date) {
        self.origins = origins; self.guarded = guarded; self.noStore = noStore ?? guarded
        self.load = load; self.attach = attach; self.now = now
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await checked(request, context: context, next: next)
        } catch let error as APIError {
            response = error.response
        }
        SecurityHeaders.apply(to: &response.headers, noStore: noStore(request.uri.path))
        return response
    }

    private func checked(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard guarded(request.uri.path) else { return try await next(request, context) }
        let session = try await load(request, now())
        var context = context
        attach(&context, session)
        try CSRF.check(request, origins: origins, sessionToken: session?.csrf)
        return try await next(request, context)
    }
}
