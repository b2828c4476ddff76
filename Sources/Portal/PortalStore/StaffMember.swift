import Foundation

/// A member of staff as the console and the CLI show them: who, what role, how far enrolled, whether locked or
/// disabled. Never carries a password hash or a second-factor secret.
public struct StaffMember: Sendable, Equatable {
    public let id: Int64
    public let username: String
    public let displayName: String
    public let email: String?
    public let role: StaffRole
    public let hasPassword: Bool
    public let hasTOTP: Bool
    public let passkeyCount: Int
    public let enrolledAt: Date?
    public let secondFactorFailures: Int
    public let lockedAt: Date?
    public let disabledAt: Date?
    /// While an enrolment link is outstanding.
    public let enrolmentExpiresAt: Date?
    public let createdAt: Date

    public var isEnrolled: Bool { enrolledAt != nil }

    /// One word for lists: disabled, locked, enrolling (link outstanding or expired) or active.
    public var status: String {
        if disabledAt != nil { return "disabled" }
        if lockedAt != nil { return "locked" }
        return enrolledAt == nil ? "enrolling" : "active"
    }

    /// Usernames as the table allows them: lower-case letters, digits, `.`, `_`, `-`, starting with a letter or
    /// digit, at most 64.
    public static func isValidUsername(_ text: String) -> Bool {
        guard let first = text.utf8.first, text.utf8.count <= 64 else { return false }
        let alphanumeric = { (byte: UInt8) in (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) }
        return alphanumeric(first) && text.utf8.allSatisfy { alphanumeric($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }
}

/// A new or renewed enrolment link's token: the only moment it exists. Printed or shown once, then forgotten.
public struct StaffEnrolment: Sendable {
    public let member: StaffMember
    public let token: String
    public let expiresAt: Date
}

/// A registered passkey of a member.
public struct StaffPasskey: Sendable, Equatable {
    public let credentialID: [UInt8]
    public let publicKey: [UInt8]
    public let signCount: UInt32

    public init(credentialID: [UInt8], publicKey: [UInt8], signCount: UInt32) {
        self.credentialID = credentialID; self.publicKey = publicKey; self.signCount = signCount
    }
}

public enum StaffError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    case usernameTaken(String)
    case unknown(String)
    case lastAdministrator
    case passkeyAlreadyRegistered
    case enrolmentIncomplete

    public var description: String {
        switch self {
        case .invalid(let why): why
        case .usernameTaken(let name): "the username \(name) is already taken; choose another"
        case .unknown(let name): "no member of staff is called \(name)"
        case .lastAdministrator: "at least one enabled administrator must remain; make someone else an administrator first"
        case .passkeyAlreadyRegistered: "this passkey is already registered; use another authenticator"
        case .enrolmentIncomplete: "the enrolment needs a password and a passkey before it can finish"
        }
    }
}

/// The audit event types of staff accounts (detail `"staff"`: the member's username).
extension AuditEvent {
    public static let staffAdded = "staff.added"
    public static let staffEnrolled = "staff.enrolled"
    public static let staffRoleChanged = "staff.role-changed"
    public static let staffDisabled = "staff.disabled"
    public static let staffEnabled = "staff.enabled"
    public static let staffReset = "staff.reset"
    public static let staffUnlocked = "staff.unlocked"
    public static let staffSignedIn = "staff.signed-in"
    public static let staffSigninFailed = "staff.signin-failed"
    public static let staffSecondFactorFailed = "staff.second-factor-failed"
    public static let staffLocked = "staff.locked"
    public static let staffSignedOut = "staff.signed-out"
}
