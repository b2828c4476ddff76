import Hummingbird
import HummingbirdCore
import NIOCore
import PortalStore
import WebSecurity

/// The request context of the console's listener: Hummingbird's basics, the caller's address, and the staff session
/// the cookie names (loaded by the console's middleware for `/api/` requests).
public struct ConsoleRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let address: String?
    public var session: StaffSession?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        address = source.channel.remoteAddress?.ipAddress
    }

    /// The signed-in staff member when their role grants `permission`; else the refusal the page shows (401 when
    /// nobody is signed in, 403 naming what the role lacks).
    public func require(_ permission: StaffPermission) throws(APIError) -> SignedInStaff {
        guard let session, session.state == .signedIn, let staff = session.staff else { throw APIError.signedOut }
        guard staff.role.may(permission) else { throw APIError.forbidden(permission) }
        return staff
    }
}

extension APIError {
    /// The role of the signed-in member does not allow this.
    public static func forbidden(_ permission: StaffPermission) -> APIError {
        APIError(.forbidden, "forbidden", "Your role does not allow this (\(permission.rawValue)). Ask an administrator.")
    }
}
