#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import POSIX

/// A read-only image file or block device, with its size.
///
/// All system calls of the media layer go through `Descriptor` (a call a signal interrupted is
/// retried), and every other errno becomes `MediaError.io`.
public final class SystemFile {
    public let path: String
    private let file: Descriptor
    /// Size in bytes: `st_size` for regular files, `BLKGETSIZE64` for block devices.
    public let size: Int64

    public var descriptor: Int32 { file.rawValue }

    public init(readOnly path: String) throws(MediaError) {
        self.path = path
        do { file = try Descriptor.open(path, O_RDONLY | O_NOFOLLOW) } catch { throw .io(operation: "open \(path)", errno: error.rawValue) }
        size = try SystemFile.size(of: file, path: path)
    }

    /// A second descriptor on a file another process opened for us (the media helper's read-only
    /// descriptor on the device): nothing is opened by name.
    public init(duplicating fd: Int32, path: String) throws(MediaError) {
        self.path = path
        do { file = try Descriptor.duplicate(fd) } catch { throw .io(operation: "dup \(path)", errno: error.rawValue) }
        size = try SystemFile.size(of: file, path: path)
    }

    /// Takes ownership of an already open descriptor (e.g. from `openat` relative to a directory).
    public init(adopting file: Descriptor, path: String) throws(MediaError) {
        self.path = path
        self.file = file
        do { size = Int64(try file.status().st_size) } catch { throw .io(operation: "fstat \(path)", errno: error.rawValue) }
    }

    /// `st_size` for regular files, `BLKGETSIZE64` for block devices.
    private static func size(of file: Descriptor, path: String) throws(MediaError) -> Int64 {
        let st: stat
        do { st = try file.status() } catch { throw .io(operation: "fstat \(path)", errno: error.rawValue) }
        guard (st.st_mode & S_IFMT) == S_IFBLK else { return Int64(st.st_size) }
        var bytes: UInt64 = 0
        // BLKGETSIZE64 = _IOR(0x12, 114, size_t)
        let BLKGETSIZE64: UInt = 0x8008_1272
        guard ioctl(file.rawValue, BLKGETSIZE64, &bytes) == 0 else { throw .io(operation: "BLKGETSIZE64 \(path)", errno: errno) }
        return Int64(bytes)
    }

    /// `pread` until `buffer` is full or end of file; returns bytes read.
    public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(MediaError) -> Int {
        do { return try file.read(at: offset, into: buffer) } catch { throw .io(operation: "read \(path) at \(offset)", errno: error.rawValue) }
    }
}
