/// Everything a volume or device can do wrong. Each case becomes a `media.*` finding upstream;
/// none of them ends a session by itself.
public enum MediaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A name or path that would leave the media root (→ `media.path-traversal`).
    case unsafePath(String, reason: String)
    /// A hostile name (see `unsafePath`) replaced by a safe stand-in; the file itself was kept
    /// (→ `media.path-traversal`, neutralised). The name as on the medium (printable), the path
    /// it was given, and what was wrong with the name.
    case renamed(String, as: String, reason: String)
    /// A directory or cluster chain that points back at itself (→ `media.loop`).
    case loop(String)
    /// Two files or directories claim the same storage (→ `media.cross-link`).
    case crossLink(String)
    /// A limit from `WalkLimits` was reached (depth, entries, bytes) (→ `media.truncated`).
    case limitExceeded(String)
    /// Structures that contradict themselves or point outside the volume (→ `media.truncated`).
    case corrupt(String)
    /// The operating system reported an error, e.g. a scratched disc or a removed stick (→ `media.io-error`).
    case io(operation: String, errno: Int32)
    /// The device or image ended before the data the structures promise (→ `media.truncated`).
    case shortRead(String)
    /// No supported file system was recognised (→ exit 5).
    case unsupported(String)
    /// libblkid found signatures of more than one file system (→ exit 5; never guess).
    case ambiguous(String)

    public var description: String {
        switch self {
        case let .unsafePath(path, reason): "unsafe path \(path): \(reason)"
        case let .renamed(original, path, reason): "unsafe name \(original) (\(reason)): read as \(path)"
        case let .loop(what): "loop: \(what)"
        case let .crossLink(what): "cross-link: \(what)"
        case let .limitExceeded(what): "limit exceeded: \(what)"
        case let .corrupt(what): "corrupt structure: \(what)"
        case let .io(operation, errno): "I/O error in \(operation): \(MediaError.errnoText(errno))"
        case let .shortRead(what): "short read: \(what)"
        case let .unsupported(what): "unsupported media: \(what)"
        case let .ambiguous(what): "ambiguous media: \(what)"
        }
    }

    static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text) + " (errno \(code))"
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
