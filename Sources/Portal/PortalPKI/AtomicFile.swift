#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Whole-file writes that are never seen half-done: a temporary file in the same directory, fsync, rename,
/// fsync of the directory. Keys are created with their final mode, so they are never readable by others,
/// not even for an instant.
enum AtomicFile {
    static func store(_ text: String, at path: String, mode: mode_t) throws(PKIError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = "\(path).tmp-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure(temporary, "cannot create") }
        var failed: PKIError?
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                failed = failure(temporary, "write failed")
                break
            }
            written += n
        }
        // The umask may have narrowed the mode; certificates must stay readable by the service user.
        if failed == nil, fchmod(fd, mode) != 0 { failed = failure(temporary, "chmod failed") }
        if failed == nil, fsync(fd) != 0 { failed = failure(temporary, "fsync failed") }
        close(fd)
        if failed == nil, rename(temporary, path) != 0 { failed = failure(path, "rename failed") }
        if let failed {
            unlink(temporary)
            throw failed
        }
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            defer { close(directoryFD) }
            guard fsync(directoryFD) == 0 else { throw failure(directory, "fsync of directory failed") }
        }
    }

    static func read(_ path: String) throws(PKIError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .file(path: path, reason: "cannot read")
        }
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Creates `path` (0700, parents too) when missing; an existing directory keeps its mode.
    static func makeDirectory(_ path: String) throws(PKIError) {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .file(path: path, reason: "cannot create directory")
        }
    }

    private static func failure(_ path: String, _ what: String) -> PKIError {
        .file(path: path, reason: "\(what): \(String(cString: strerror(errno)))")
    }
}
