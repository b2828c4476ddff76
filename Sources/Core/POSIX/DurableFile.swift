import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Whole-file writes a crash never leaves half-done, and directory syncs that make a new, renamed or removed
/// entry survive one.
public enum DurableFile {
    /// The step that failed, the path it failed on, and why: callers word their own errors from these.
    public struct Failure: Error, Sendable {
        /// `rename` is link(2) when not replacing.
        public enum Step: Sendable { case create, write, setPermissions, sync, rename, syncDirectory }
        public let step: Step
        public let path: String
        public let errno: Errno
    }

    /// Writes `bytes` to a temporary file in `path`'s directory, created (O_EXCL) with `permissions` as its final
    /// mode so it is never readable by others, not even for an instant; fsyncs it, moves it to `path` and fsyncs
    /// the directory. A crash leaves the old file or the new one. Without `replacing`, an existing `path` is
    /// kept and the move fails with EEXIST (link(2)), so taking a name and writing it are one step.
    public static func writeAtomically(path: String, bytes: [UInt8], permissions: mode_t, replacing: Bool = true)
        throws(Failure)
    {
        let directory = directory(of: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let temporary = "\(directory)/.\(name).\(UInt64.random(in: 0...UInt64.max)).tmp"
        let file: Descriptor
        do {
            file = try Descriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, permissions: permissions)
        } catch {
            throw Failure(step: .create, path: temporary, errno: error)
        }
        // After a rename the name is already gone; after link(2) or a failure it goes here.
        defer { unlink(temporary) }
        do { try file.writeAll(bytes, at: 0) } catch { throw Failure(step: .write, path: temporary, errno: error) }
        // The umask may have narrowed the mode (certificates must stay readable by the service user).
        guard fchmod(file.rawValue, permissions) == 0 else {
            throw Failure(step: .setPermissions, path: temporary, errno: Errno(rawValue: errno))
        }
        do { try file.sync() } catch { throw Failure(step: .sync, path: temporary, errno: error) }
        let moved = replacing ? rename(temporary, path) : link(temporary, path)
        guard moved == 0 else { throw Failure(step: .rename, path: path, errno: Errno(rawValue: errno)) }
        do { try syncDirectory(directory) } catch { throw Failure(step: .syncDirectory, path: directory, errno: error) }
    }

    /// fsyncs a directory so that an entry created, renamed or removed in it survives a crash.
    public static func syncDirectory(_ path: String) throws(Errno) {
        try Descriptor.open(path, O_RDONLY | O_DIRECTORY).sync()
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
