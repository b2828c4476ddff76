import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PortalConsole
import PortalStore
import WebSecurity

/// An area's routes in-process, without TLS or the sign-in ceremony, for tests of what an area does once someone
/// is signed in: the header `X-Test-Staff: <id>:<username>:<role>` stands for the signed-in member (no header:
/// nobody). The console server's own tests cover sessions, CSRF and sign-in over HTTPS.
struct ConsoleTestApp {
    static let staffHeader = HTTPField.Name("X-Test-Staff")!

    static func application(_ areas: [any ConsoleArea]) -> some ApplicationProtocol {
        let router = Router(context: ConsoleRequestContext.self)
        router.add(middleware: SignedInAs())
        for area in areas { area.addRoutes(to: router) }
        return Application(router: router)
    }

    static func headers(_ staff: SignedInStaff?, json: Bool = false) -> HTTPFields {
        var fields: HTTPFields = [:]
        if let staff { fields[staffHeader] = "\(staff.id):\(staff.username):\(staff.role.rawValue)" }
        if json { fields[.contentType] = "application/json" }
        return fields
    }

    struct SignedInAs: RouterMiddleware {
        typealias Context = ConsoleRequestContext
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var context = context
            if let value = request.headers[ConsoleTestApp.staffHeader] {
                let parts = value.split(separator: ":").map(String.init)
                if parts.count == 3, let id = Int64(parts[0]), let role = StaffRole(rawValue: parts[2]) {
                    let staff = SignedInStaff(id: id, username: parts[1], displayName: parts[1], role: role)
                    var session = StaffSession(digest: Data(count: 32), state: .signedIn, csrf: "", staff: staff, staffID: id,
                                               createdAt: Date(), lastSeenAt: Date())
                    session.authenticatedAt = Date()
                    session.secondFactorAt = Date()
                    context.session = session
                }
            }
            do { return try await next(request, context) } catch let error as APIError { return error.response }
        }
    }
}
