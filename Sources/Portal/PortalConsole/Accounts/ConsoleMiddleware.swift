import Foundation
import Hummingbird
import WebSecurity

/// Every answer of the console gets the security headers; `/api/` requests get their session loaded, and those that
/// change something must come from the console's own page (`CSRF`).
struct ConsoleMiddleware: RouterMiddleware {
    typealias Context = ConsoleRequestContext

    let sessions: ConsoleSessions
    let origins: Set<String>
    let now: @Sendable () -> Date

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await guarded(request, context: context, next: next)
        } catch let error as APIError {
            response = error.response
        }
        SecurityHeaders.apply(to: &response.headers, noStore: request.uri.path.hasPrefix("/api/"))
        return response
    }

    private func guarded(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/api/") else { return try await next(request, context) }
        var context = context
        context.session = try await sessions.load(request, now: now())
        try CSRF.check(request, origins: origins, sessionToken: context.session?.csrf)
        return try await next(request, context)
    }
}
