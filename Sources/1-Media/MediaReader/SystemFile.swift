#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owner of one read-only file descriptor on an image file or block device.
///
/// All system calls of the media layer go through here: `EINTR` is retried, every other errno
/// becomes `MediaError.io`.
public final class SystemFile {
    public let path: String
    public let descriptor: Int32
    /// Size in bytes: `st_size` for regular files, `BLKGETSIZE64` for block devices.
    public let size: Int64

    public init(readOnly path: String) throws(MediaError) {
        self.path = path
        let fd = SystemFile.retrying { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard fd >= 0 else { throw .io(operation: "open \(path)", errno: errno) }
        descriptor = fd
        size = try SystemFile.size(of: fd, path: path)
    }

    /// A second descriptor on a file another process opened for us (the media helper's read-only
    /// descriptor on the device, issue 7): nothing is opened by name.
    public init(duplicating fd: Int32, path: String) throws(MediaError) {
        self.path = path
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw .io(operation: "dup \(path)", errno: errno) }
        descriptor = copy
        size = try SystemFile.size(of: copy, path: path)
    }

    /// `st_size` for regular files, `BLKGETSIZE64` for block devices; closes `fd` on failure.
    private static func size(of fd: Int32, path: String) throws(MediaError) -> Int64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { let e = errno; close(fd); throw .io(operation: "fstat \(path)", errno: e) }
        guard (st.st_mode & S_IFMT) == S_IFBLK else { return Int64(st.st_size) }
        var bytes: UInt64 = 0
        // BLKGETSIZE64 = _IOR(0x12, 114, size_t)
        let BLKGETSIZE64: UInt = 0x8008_1272
        guard ioctl(fd, BLKGETSIZE64, &bytes) == 0 else {
            let e = errno; close(fd); throw .io(operation: "BLKGETSIZE64 \(path)", errno: e)
        }
        return Int64(bytes)
    }

    /// Takes ownership of an already open descriptor (e.g. from `openat` relative to a directory).
    /// The descriptor is closed on failure too.
    public init(adopting fd: Int32, path: String) throws(MediaError) {
        self.path = path
        descriptor = fd
        var st = stat()
        guard fstat(fd, &st) == 0 else { let e = errno; close(fd); throw .io(operation: "fstat \(path)", errno: e) }
        size = Int64(st.st_size)
    }

    deinit { close(descriptor) }

    /// `pread` until `buffer` is full or end of file; returns bytes read.
    public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(MediaError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = SystemFile.retrying {
                pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            }
            if n < 0 { throw .io(operation: "read \(path) at \(offset + Int64(done))", errno: errno) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    static func retrying<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let result = call()
            if result < 0 && errno == EINTR { continue }
            return result
        }
    }
}
