import MediaReader
import SessionReport

extension MediaError {
    /// The `media.*` finding for this error (ARCHITECTURE.md §3.3).
    public func finding(at path: MediaPath) -> Finding {
        let (code, severity): (FindingCode, Severity) = switch self {
        case .unsafePath: (.mediaPathTraversal, .high)
        case .renamed: (.mediaPathTraversal, .low)
        case .loop: (.mediaLoop, .medium)
        case .crossLink: (.mediaCrossLink, .medium)
        case .limitExceeded: (.mediaLimitExceeded, .medium)
        case .corrupt: (.mediaCorrupt, .medium)
        case .io: (.mediaIOError, .medium)
        case .shortRead: (.mediaTruncated, .medium)
        case .unsupported, .ambiguous: (.mediaUnreadable, .high)
        }
        if case let .renamed(original, standIn, reason) = self {
            return Finding(code, severity, "the name \(original) is unsafe (\(reason)); read by its location on the medium and named \(standIn)")
        }
        return Finding(code, severity, "\(path): \(self)")
    }
}
