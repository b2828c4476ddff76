import MediaReader
import SessionReport

extension MediaError {
    /// The `media.*` finding for this error (ARCHITECTURE.md §3.3).
    public func finding(at path: MediaPath) -> Finding {
        let (code, severity): (String, Severity) = switch self {
        case .unsafePath: ("media.path-traversal", .high)
        case .renamed: ("media.path-traversal", .low)
        case .loop: ("media.loop", .medium)
        case .crossLink: ("media.cross-link", .medium)
        case .limitExceeded: ("media.limit-exceeded", .medium)
        case .corrupt: ("media.corrupt", .medium)
        case .io: ("media.io-error", .medium)
        case .shortRead: ("media.truncated", .medium)
        case .unsupported, .ambiguous: ("media.unreadable", .high)
        }
        if case let .renamed(original, standIn, reason) = self {
            return Finding(code, severity, "the name \(original) is unsafe (\(reason)); read by its location on the medium and named \(standIn)")
        }
        return Finding(code, severity, "\(path): \(self)")
    }
}
