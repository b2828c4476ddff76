import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// The one owner of a file descriptor in the agent: closed exactly once, when its owner goes.
/// Reads and writes go through swift-system, which retries a call a signal interrupted (EINTR);
/// every other failure is an `Errno`.
public final class Descriptor: @unchecked Sendable {
    public let handle: FileDescriptor

    public var rawValue: Int32 { handle.rawValue }

    /// Takes ownership of an open descriptor.
    public init(adopting raw: Int32) { handle = FileDescriptor(rawValue: raw) }

    /// Opens `path` with `open(2)` flags (`O_CLOEXEC` is always added).
    public static func open(_ path: String, _ flags: Int32, permissions: mode_t = 0) throws(Errno) -> Descriptor {
        let fd = retryingOnInterrupt { Glibc.open(path, flags | O_CLOEXEC, permissions) }
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        return Descriptor(adopting: fd)
    }

    /// Opens `name` (its bytes as on disk) inside the directory `parent` with `openat(2)`.
    public static func open(in parent: Descriptor, name: [UInt8], _ flags: Int32) throws(Errno) -> Descriptor {
        let fd = retryingOnInterrupt {
            (name + [0]).withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { openat(parent.rawValue, $0.baseAddress!, flags | O_CLOEXEC) }
            }
        }
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        return Descriptor(adopting: fd)
    }

    /// A second descriptor on the same open file (close-on-exec), owned separately, numbered
    /// `lowest` or above.
    public static func duplicate(_ raw: Int32, atLeast lowest: Int32 = 0) throws(Errno) -> Descriptor {
        let copy = fcntl(raw, F_DUPFD_CLOEXEC, lowest)
        guard copy >= 0 else { throw Errno(rawValue: errno) }
        return Descriptor(adopting: copy)
    }

    /// A new socket (close-on-exec).
    public static func socket(_ domain: Int32, _ type: Int32, _ proto: Int32 = 0) throws(Errno) -> Descriptor {
        let fd = Glibc.socket(domain, type | Int32(SOCK_CLOEXEC.rawValue), proto)
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        return Descriptor(adopting: fd)
    }

    deinit { try? handle.close() }

    public func status() throws(Errno) -> stat {
        var st = stat()
        guard fstat(rawValue, &st) == 0 else { throw Errno(rawValue: errno) }
        return st
    }

    /// `pread` until `buffer` is full or the file ends; returns the bytes read.
    public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        var done = 0
        while done < buffer.count {
            let n: Int
            do {
                n = try handle.read(fromAbsoluteOffset: offset + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            } catch {
                throw Errno.of(error)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// `read` until `buffer` is full or the end of the stream; returns the bytes read.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        var done = 0
        while done < buffer.count {
            let n: Int
            do { n = try handle.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...])) } catch { throw Errno.of(error) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes all of `bytes` (short writes continued).
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        do { _ = try handle.writeAll(bytes) } catch { throw Errno.of(error) }
    }

    /// `pwrite` until all of `bytes` is written at `offset`; the file offset is left alone.
    public func writeAll(_ bytes: some Sequence<UInt8>, at offset: Int64) throws(Errno) {
        do { _ = try handle.writeAll(toAbsoluteOffset: offset, bytes) } catch { throw Errno.of(error) }
    }

    /// Up to `count` bytes from `offset`; fewer only where the file ends.
    public func read(upTo count: Int, at offset: Int64) throws(Errno) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let done: Int
        do { done = try bytes.withUnsafeMutableBytes { try read(at: offset, into: $0) } } catch { throw Errno.of(error) }
        bytes.removeLast(count - done)
        return bytes
    }

    /// `fsync`: the file's data and metadata reach the disk.
    public func sync() throws(Errno) {
        guard retryingOnInterrupt({ fsync(rawValue) }) == 0 else { throw Errno(rawValue: errno) }
    }

    /// `ftruncate` to `length` bytes.
    public func truncate(to length: Int64) throws(Errno) {
        do { try handle.resize(to: length) } catch { throw Errno.of(error) }
    }

    /// The file's length in bytes, from `fstat`.
    public var size: Int64 {
        get throws(Errno) { Int64(try status().st_size) }
    }
}

/// A system call swift-system does not wrap (`poll`, `waitpid`, `openat`, `write` on a descriptor
/// it does not own), retried while a signal interrupts it. The result is the call's own: a negative
/// one leaves the cause in `errno`.
@inlinable
public func retryingOnInterrupt<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result < 0 && errno == EINTR { continue }
        return result
    }
}

extension Errno {
    /// swift-system throws `Errno` untyped: this is where it becomes typed again.
    static func of(_ error: any Error) -> Errno { error as? Errno ?? .ioError }
}
