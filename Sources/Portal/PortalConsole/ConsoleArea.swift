import Hummingbird

/// One part of the console's API (patients, review, analytics, audit, staff): its routes under `/api/`, each
/// checking the caller's permission with `context.require(_:)`. The console server adds every area to its router
/// behind the middleware that loads the session and enforces the CSRF rules.
public protocol ConsoleArea: Sendable {
    func addRoutes(to router: Router<ConsoleRequestContext>)
}
