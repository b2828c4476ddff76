import WebSecurity
import Foundation
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

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await guarded(request, context: context, next: next)
        } catch let error as APIError {
            response = error.response
        }
        let path = request.uri.path
        SecurityHeaders.apply(to: &response.headers, noStore: path.hasPrefix("/api/") || path.hasPrefix("/uploads"))
        return response
    }

    private func guarded(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/api/") || path.hasPrefix("/uploads/") || path == "/uploads" else { return try await next(request, context) }
        var context = context
        context.session = try await sessions.load(request, now: now())
        try CSRF.check(request, origins: origins, sessionToken: context.session?.csrf)
        return try await next(request, context)
    }
}
