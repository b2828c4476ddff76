import CLinux
import DICOMCore
import Crypto
import Foundation
import POSIX
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// A rebuilt file written to an incoming directory, not yet durable or visible.
public struct StagedBytes: Sendable {
    public let temporary: URL
    public let size: Int64
    public let sha256: String
}

public enum StagingError: Error, CustomStringConvertible {
    case io(String, errno: Int32)

    /// The file system is full (ENOSPC or EDQUOT): no point retrying this disc until room is made.
    public var isDiskFull: Bool {
        if case let .io(_, code) = self { return code == ENOSPC || code == EDQUOT }
        return false
    }

    public var description: String {
        switch self {
        case let .io(what, code): "\(what): \(String(cString: strerror(code)))"
        }
    }

    /// Whether any error from staging or committing (our own, SQLite's, Foundation's) means the file
    /// system is full: a commit fails in SQLite or in creating a directory as often as in write(2).
    public static func isDiskFull(_ error: any Error) -> Bool {
        if let staging = error as? StagingError { return staging.isDiskFull }
        if let database = error as? DatabaseError { return database.resultCode == .SQLITE_FULL }
        if let posix = error as? POSIXError { return posix.code == .ENOSPC || posix.code == .EDQUOT }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return ns.code == Int(ENOSPC) || ns.code == Int(EDQUOT) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError { return isDiskFull(underlying) }
        return ns.domain == NSCocoaErrorDomain && ns.code == CocoaError.fileWriteOutOfSpace.rawValue
    }
}

/// Write-then-publish for the archive and the spool: bytes go to a fresh file in `incoming` as the
/// rebuild produces them (hashed on the way), many files are made durable with one `syncfs`, then
/// renamed into place. A crash leaves only files in `incoming`, which the next open clears. Each
/// file's name starts with its writer's process ID: opening the spool or the archive (`spool list`,
/// a CLI ingest beside the service) must not take the files another live process is about to publish.
enum Staging {
    /// Rebuilt files are written with O_DIRECT where the file system takes it: they are written
    /// once and not read again soon, and copying each into the page cache first cost more CPU time
    /// than anything else the agent does with a file except the engines' scan (and evicted what
    /// the cache was holding). `syncfs` still makes them durable.
    static let directBlock = 4096
    static let directBuffer = 1 << 20
    /// Aligned buffers kept for the next file: a fresh megabyte per file is a megabyte of page
    /// faults per file.
    private static let buffers = BufferPool()

    private final class BufferPool: @unchecked Sendable {
        private let lock = NSLock()
        private var free: [UnsafeMutableRawBufferPointer] = []

        func take() -> UnsafeMutableRawBufferPointer {
            lock.withLock { free.popLast() } ?? .allocate(byteCount: directBuffer, alignment: directBlock)
        }

        func give(_ buffer: UnsafeMutableRawBufferPointer) {
            let kept = lock.withLock { free.count < 4 ? (free.append(buffer), true).1 : false }
            if !kept { buffer.deallocate() }
        }
    }

    static func write(into incoming: URL, _ write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> StagedBytes {
        let temporary = incoming.appendingPathComponent("\(getpid())-\(UUID().uuidString)")
        let file: Descriptor
        var direct = true
        do {
            do { file = try Descriptor.open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | KIOSK_O_DIRECT, permissions: 0o640) } catch .invalidArgument {
                // tmpfs and some other file systems refuse O_DIRECT at open: write through the cache there.
                direct = false
                file = try Descriptor.open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, permissions: 0o640)
            }
        } catch {
            throw StagingError.io("create \(temporary.lastPathComponent)", errno: error.rawValue)
        }
        let fd = file.rawValue
        var hasher = SHA256()
        var size: Int64 = 0
        let buffer = buffers.take()
        defer { buffers.give(buffer) }
        var gatherer = PieceGatherer(buffer)

        func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < bytes.count {
                let n = retryingOnInterrupt { Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done) }
                if n < 0 {
                    // A file system that takes O_DIRECT at open but not these sizes: go on through the cache.
                    if errno == EINVAL && direct, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~KIOSK_O_DIRECT) == 0 {
                        direct = false
                        continue
                    }
                    throw StagingError.io("write", errno: errno)
                }
                done += n
            }
        }
        do {
            try write { chunk in
                hasher.update(bufferPointer: chunk)
                size += Int64(chunk.count)
                guard direct else { return try writeAll(chunk) }
                try gatherer.add(chunk, full: writeAll)
            }
            if gatherer.filled > 0 {
                // O_DIRECT writes whole blocks: the last one is padded, then the file cut to its size.
                let filled = gatherer.filled
                let padded = direct ? (filled + directBlock - 1) / directBlock * directBlock : filled
                (buffer.baseAddress! + filled).initializeMemory(as: UInt8.self, repeating: 0, count: padded - filled)
                try writeAll(UnsafeRawBufferPointer(rebasing: buffer[0..<padded]))
                if padded > 0, ftruncate(fd, off_t(size)) != 0 { throw StagingError.io("truncate", errno: errno) }
            }
        } catch {
            unlink(temporary.path)
            throw error
        }
        return StagedBytes(temporary: temporary, size: size, sha256: hasher.finalize().lowercaseHex)
    }

    /// One `syncfs` covers every file written since the last: far cheaper than an fsync per file.
    static func syncFileSystem(containing directory: URL) throws {
        let opened: Descriptor
        do { opened = try Descriptor.open(directory.path, O_RDONLY | O_DIRECTORY) } catch {
            throw StagingError.io("open \(directory.lastPathComponent)", errno: error.rawValue)
        }
        guard kiosk_syncfs(opened.rawValue) == 0 else { throw StagingError.io("syncfs", errno: errno) }
    }

    /// Removes whatever an interrupted session left in `incoming` (never published, never indexed):
    /// files of writers that have ended; a live writer's files are its own.
    static func clear(_ incoming: URL) throws {
        try FileManager.default.createDirectory(at: incoming, withIntermediateDirectories: true)
        for leftover in (try? FileManager.default.contentsOfDirectory(atPath: incoming.path)) ?? [] {
            if let writer = leftover.split(separator: "-", maxSplits: 1).first.flatMap({ Int32($0) }), writer > 0,
               kill(writer, 0) == 0 || errno != ESRCH { continue }
            try? FileManager.default.removeItem(at: incoming.appendingPathComponent(leftover))
        }
    }

    /// Free bytes for an unprivileged writer on the file system holding `directory`.
    static func freeBytes(at directory: URL) throws -> Int64 {
        var stats = statvfs()
        guard statvfs(directory.path, &stats) == 0 else { throw StagingError.io("statvfs \(directory.path)", errno: errno) }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }
}

/// Room on the disk holding the archive or spool, checked before a disc is accepted.
public struct DiskRoom: Sendable, Equatable, CustomStringConvertible {
    public let free: Int64
    public let needed: Int64

    public var isEnough: Bool { free >= needed }

    /// `estimate` is what the disc could add; `reserve` stays free for the system and the database.
    public static func check(_ directory: URL, estimate: Int64, reserve: Int64) throws -> DiskRoom {
        DiskRoom(free: try Staging.freeBytes(at: directory), needed: estimate + reserve)
    }

    public var description: String {
        let format = ByteCountFormatter()
        format.countStyle = .binary
        return "\(format.string(fromByteCount: free)) free, \(format.string(fromByteCount: needed)) needed"
    }
}
