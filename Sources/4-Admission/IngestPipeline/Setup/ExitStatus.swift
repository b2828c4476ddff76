/// Exit codes of `ingest` (ARCHITECTURE.md §3.1). Where several apply, the highest wins.
public enum ExitStatus: Int32, Comparable, Sendable {
    case delivered = 0
    case usage = 2
    case someRejected = 3
    case identityMismatch = 4
    case mediaUnreadable = 5
    case deliveryPending = 6
    /// Additive to the contract: the state directory has no room; nothing of the disc was accepted
    /// (or, if it filled up during the session, the files that did not fit are marked failed).
    case noRoom = 7

    public static func < (lhs: ExitStatus, rhs: ExitStatus) -> Bool { lhs.rawValue < rhs.rawValue }
}
