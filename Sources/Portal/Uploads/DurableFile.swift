import Glibc
import NIOPosix

/// Blocking file calls for the staging store and the registry. They run on NIO's blocking pool (`offload`) so an
/// fsync never stalls the cooperative threads that serve requests.
enum DurableFile {
    static func openFile(_ path: String, flags: Int32, mode: mode_t = 0o600) throws -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw error("open \(path)") }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw error("write")
            }
            done += n
        }
    }

    /// Reads up to `count` bytes; fewer only at the end of the file.
    static func read(_ fd: Int32, count: Int, at offset: Int64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw error("read")
            }
            if n == 0 { break }
            done += n
        }
        bytes.removeLast(count - done)
        return bytes
    }

    static func sync(_ fd: Int32) throws {
        guard fsync(fd) == 0 else { throw error("fsync") }
    }

    static func truncate(_ fd: Int32, to length: Int64) throws {
        guard ftruncate(fd, off_t(length)) == 0 else { throw error("truncate") }
    }

    static func length(_ fd: Int32) throws -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw error("stat") }
        return Int64(info.st_size)
    }

    /// Syncs a directory so that an entry created, renamed or removed in it survives a crash.
    static func syncDirectory(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw error("open directory \(path)") }
        defer { close(fd) }
        try sync(fd)
    }

    static func makeDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { throw error("mkdir \(prefix)") }
        }
    }

    static func unlinkFile(_ path: String) throws -> Bool {
        if Glibc.unlink(path) == 0 { return true }
        if errno == ENOENT { return false }
        throw error("unlink \(path)")
    }

    static func renameFile(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw error("rename \(from)") }
    }

    static func list(_ directory: String) throws -> [String] {
        guard let dir = opendir(directory) else { throw error("opendir \(directory)") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Running out of space is its own error: the server answers it differently from other I/O failures.
    static func error(_ what: String) -> StagingError {
        let code = errno
        if code == ENOSPC || code == EDQUOT { return .storageFull }
        return .io(what, errno: code)
    }
}

/// Runs blocking file work off the cooperative thread pool.
func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive(work)
}
