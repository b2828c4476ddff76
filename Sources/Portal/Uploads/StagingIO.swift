import Glibc
import NIOPosix
import POSIX
import SystemPackage

/// Where the staging store's and the registry's file calls meet POSIX: its `Errno` becomes a `StagingError`, and
/// the directory calls `Descriptor` does not cover live here.
enum StagingIO {
    /// Runs a POSIX call, naming its failure `what`.
    static func io<T>(_ what: String, _ call: @autoclosure () throws -> T) throws -> T {
        do { return try call() } catch let error as Errno { throw StagingError(what, error) }
    }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o600) throws -> Descriptor {
        try io("open \(path)", try Descriptor.open(path, flags | O_NOFOLLOW, permissions: mode))
    }

    static func syncDirectory(_ path: String) throws {
        try io("sync directory \(path)", try DurableFile.syncDirectory(path))
    }

    /// Gives the page cache back the synced bytes of `file` from `offset` on. Staged bytes are read once, later,
    /// maybe on another machine; the next chunk's writes then reuse these warm pages instead of claiming fresh ones,
    /// whose first touch made the copy into them four times slower (measured on a VM). Only advice: a failure
    /// changes nothing.
    static func dropCached(_ file: Descriptor, from offset: Int64) {
        _ = posix_fadvise(file.rawValue, off_t(offset), 0, POSIX_FADV_DONTNEED)
    }

    static func makeDirectory(_ path: String) throws(StagingError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { throw StagingError("mkdir \(prefix)", Errno(rawValue: errno)) }
        }
    }

    static func unlinkFile(_ path: String) throws(StagingError) -> Bool {
        if Glibc.unlink(path) == 0 { return true }
        if errno == ENOENT { return false }
        throw StagingError("unlink \(path)", Errno(rawValue: errno))
    }

    static func list(_ directory: String) throws(StagingError) -> [String] {
        guard let dir = opendir(directory) else { throw StagingError("opendir \(directory)", Errno(rawValue: errno)) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

extension StagingError {
    /// Running out of space is its own error: the server answers it differently from other I/O failures.
    init(_ what: String, _ errno: Errno) {
        self = errno == .noSpace || errno == .diskQuotaExceeded ? .storageFull : .io(what, errno: errno.rawValue)
    }

    /// A failed atomic write, named by its step.
    init(_ failure: DurableFile.Failure) {
        self.init("\(failure.step) \(failure.path)", failure.errno)
    }
}

/// Runs blocking file work on NIO's blocking pool, so an fsync never stalls the cooperative threads that serve
/// requests.
func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive(work)
}
