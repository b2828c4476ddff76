import Foundation
import Hummingbird
import Logging
import PortalStore
import WebSecurity

/// The staff area (administrators): list members, add one (the answer carries the one-time enrolment link, shown
/// once), change a role, disable and enable, reset (a new link), unlock. Audited by `StaffDirectory`.
public struct StaffAPI: ConsoleArea {
    let directory: StaffDirectory
    let logger: Logger
    /// The console's origin, for enrolment links.
    let origin: String

    public init(database: PortalDatabase, logger: Logger, origin: String) {
        directory = StaffDirectory(database)
        self.logger = logger
        self.origin = origin.hasSuffix("/") ? String(origin.dropLast()) : origin
    }

    /// Where a member's enrolment starts: the token rides in the fragment, so it never reaches a server log.
    public static func enrolmentLink(origin: String, token: String) -> String {
        (origin.hasSuffix("/") ? String(origin.dropLast()) : origin) + "/enrol.html#token=" + token
    }

    public func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.get("/api/staff") { _, context in
            _ = try context.require(.manageStaff)
            return JSONBody.response(["staff": try await directory.list().map(Self.json)])
        }
        router.post("/api/staff") { request, context in
            let staff = try context.require(.manageStaff)
            let body = try await JSONBody.object(request)
            let email = (body["email"] as? String).map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
            let enrolment = try await refusing {
                try await directory.add(username: try body.string("username", max: 64).trimmingCharacters(in: .whitespaces),
                                        displayName: try body.string("displayName", max: 200), email: email,
                                        role: try parseRole(body), actor: staff.actor)
            }
            return JSONBody.response(answer(enrolment), status: .created)
        }
        router.post("/api/staff/:username/role") { request, context in
            let staff = try context.require(.manageStaff)
            let role = try parseRole(try await JSONBody.object(request))
            let username = try parseUsername(context)
            try await refusing { try await directory.changeRole(username: username, to: role, actor: staff.actor) }
            return try await member(username)
        }
        router.post("/api/staff/:username/disable") { _, context in
            let staff = try context.require(.manageStaff)
            let username = try parseUsername(context)
            try await refusing { try await directory.disable(username: username, actor: staff.actor) }
            return try await member(username)
        }
        router.post("/api/staff/:username/enable") { _, context in
            let staff = try context.require(.manageStaff)
            let username = try parseUsername(context)
            try await refusing { try await directory.enable(username: username, actor: staff.actor) }
            return try await member(username)
        }
        router.post("/api/staff/:username/unlock") { _, context in
            let staff = try context.require(.manageStaff)
            let username = try parseUsername(context)
            try await refusing { try await directory.unlock(username: username, actor: staff.actor) }
            return try await member(username)
        }
        router.post("/api/staff/:username/reset") { _, context in
            let staff = try context.require(.manageStaff)
            let username = try parseUsername(context)
            let enrolment = try await refusing { try await directory.reset(username: username, actor: staff.actor) }
            return JSONBody.response(answer(enrolment))
        }
    }

    private func answer(_ enrolment: StaffEnrolment) -> [String: Any] {
        ["member": Self.json(enrolment.member), "link": Self.enrolmentLink(origin: origin, token: enrolment.token),
         "expiresAt": ISO8601DateFormatter().string(from: enrolment.expiresAt)]
    }

    private func member(_ username: String) async throws -> Response {
        guard let member = try await directory.member(username: username) else { throw APIError.unknownStaff }
        return JSONBody.response(["member": Self.json(member)])
    }

    private func parseUsername(_ context: ConsoleRequestContext) throws(APIError) -> String {
        guard let username = context.parameters.get("username"), StaffMember.isValidUsername(username) else { throw APIError.unknownStaff }
        return username
    }

    private func parseRole(_ body: [String: Any]) throws(APIError) -> StaffRole {
        guard let role = StaffRole(rawValue: try body.string("role", max: 32)) else {
            throw APIError.badRequest("\"role\" must be one of: " + StaffRole.allCases.map(\.rawValue).joined(separator: ", ") + ".")
        }
        return role
    }

    /// The directory's refusals as the page shows them.
    private func refusing<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as StaffError {
            switch error {
            case .unknown: throw APIError.unknownStaff
            case .usernameTaken: throw APIError(.conflict, "staff.username-taken", error.description)
            case .lastAdministrator: throw APIError(.conflict, "staff.last-administrator", error.description)
            case .invalid: throw APIError(.badRequest, "bad-request", error.description)
            case .passkeyAlreadyRegistered, .enrolmentIncomplete: throw APIError(.conflict, "conflict", error.description)
            }
        }
    }

    static func json(_ member: StaffMember) -> [String: Any] {
        let format = ISO8601DateFormatter()
        let date = { (value: Date?) -> Any in value.map { format.string(from: $0) } ?? NSNull() }
        return [
            "username": member.username, "displayName": member.displayName, "email": member.email.map { $0 as Any } ?? NSNull(), "role": member.role.rawValue,
            "status": member.status, "passkeys": member.passkeyCount, "totp": member.hasTOTP, "enrolledAt": date(member.enrolledAt),
            "lockedAt": date(member.lockedAt), "disabledAt": date(member.disabledAt), "enrolmentExpiresAt": date(member.enrolmentExpiresAt),
            "createdAt": date(member.createdAt),
        ]
    }
}

extension APIError {
    static let unknownStaff = APIError(.notFound, "staff.unknown", "There is no member of staff by that username.")
}
