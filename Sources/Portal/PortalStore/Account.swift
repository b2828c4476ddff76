import Foundation

/// The unprivileged account the cluster runs as when this process is root.
public struct Account: Sendable, Equatable {
    public let name: String
    public let uid: UInt32
    public let gid: UInt32

    /// Looks the account up in the password database.
    public static func named(_ name: String) -> Account? {
        guard let entry = getpwnam(name) else { return nil }
        return Account(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }
}
