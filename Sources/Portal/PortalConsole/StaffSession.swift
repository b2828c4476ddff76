import Foundation
import PortalStore

/// Who is signed in to the console, as every handler sees them.
public struct SignedInStaff: Sendable, Equatable {
    public let id: Int64
    public let username: String
    public let displayName: String
    public let role: StaffRole

    public init(id: Int64, username: String, displayName: String, role: StaffRole) {
        self.id = id; self.username = username; self.displayName = displayName; self.role = role
    }

    /// How audit records name them.
    public var actor: String { "staff:" + username }
}

/// A console browser session, as stored (only the cookie's SHA-256) and as loaded for a request.
public struct StaffSession: Sendable, Equatable {
    public enum State: String, Sendable {
        /// Nothing proved yet.
        case anonymous
        /// The password was right; the second factor is next.
        case password
        /// Following an enrolment link: setting the password and registering a passkey or an authenticator app.
        case enrolling
        case signedIn = "signed-in"
    }

    public var digest: Data
    public var state: State
    public var csrf: String
    /// Set from `.password` on; the member's current record when signed in.
    public var staff: SignedInStaff?
    public var staffID: Int64?
    public var challenge: Data?
    public var challengePurpose: String?
    public var challengeExpiresAt: Date?
    public var createdAt: Date
    public var lastSeenAt: Date
    public var authenticatedAt: Date?
    /// When the second factor was last proved: approving, rejecting and other decisions need it recent.
    public var secondFactorAt: Date?

    public init(digest: Data, state: State, csrf: String, staff: SignedInStaff? = nil, staffID: Int64? = nil, createdAt: Date, lastSeenAt: Date) {
        self.digest = digest; self.state = state; self.csrf = csrf; self.staff = staff; self.staffID = staffID
        self.createdAt = createdAt; self.lastSeenAt = lastSeenAt
    }
}
