import WebSecurity
import Credentials
import Foundation
import HTTPTypes
import Hummingbird

/// Every response of the patients' listener gets the security headers; API and upload requests get their session
/// loaded, and those that change something must come from the portal's own page: Origin (when sent) is ours,
/// Sec-Fetch-Site (when sent) is same-origin, and `X-CSRF-Token` is the session's synchronizer token.
struct EdgeMiddleware: RouterMiddleware {
    typealias Context = EdgeRequestContext

    let sessions: SessionGate
    /// `https://host:port` as browsers send it in Origin.
    let origins: Set<String>
    let now: @Sendable () -> Date

    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await guarded(request, context: context, next: next)
        } catch let error as APIError {
            response = error.response
        }
        Self.secure(&response.headers, path: request.uri.path)
        return response
    }

    private func guarded(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/api/") || path.hasPrefix("/uploads/") || path == "/uploads" else { return try await next(request, context) }
        var context = context
        context.session = try await sessions.load(request, now: now())
        let safe = [.get, .head, .options].contains(request.method)
        if !safe {
            if let origin = request.headers[.origin], !origins.contains(origin) { throw APIError.csrf }
            if let site = request.headers[Self.secFetchSite], site != "same-origin" { throw APIError.csrf }
            // Starting a session is the one unsafe request without one: the page fetched /api/session first, so a
            // missing session here means the cookie expired (or was never set: a cross-site form cannot set it).
            guard let session = context.session else { throw APIError.signedOut }
            guard let presented = request.headers[Self.csrfHeader],
                  constantTimeEqual(Array(presented.utf8), Array(session.csrf.utf8)) else { throw APIError.csrf }
        }
        return try await next(request, context)
    }

    /// HSTS, the CSP (no inline script or style, nothing from another origin), no framing, no sniffing, no Referer;
    /// API answers and uploads are never cached.
    static func secure(_ headers: inout HTTPFields, path: String) {
        headers[.strictTransportSecurity] = "max-age=63072000; includeSubDomains"
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        headers[HTTPField.Name("Cross-Origin-Resource-Policy")!] = "same-origin"
        headers[HTTPField.Name("Permissions-Policy")!] = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
        if path.hasPrefix("/api/") || path.hasPrefix("/uploads") { headers[.cacheControl] = "no-store" }
    }

    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
        "worker-src 'self'", "manifest-src 'self'", "form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'",
    ].joined(separator: "; ")
}
