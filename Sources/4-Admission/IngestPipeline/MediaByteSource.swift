import DICOMCore
import Crypto
import MediaReader

/// Lets the codec read a file straight from the media, for files too large to hold in memory.
/// Not thread-safe: used only by the task that owns the volume.
public final class MediaByteSource: ByteSource {
    public let file: any MediaFile

    public init(_ file: any MediaFile) { self.file = file }

    public var count: Int64 { file.entry.size }

    public func read(at offset: Int64, count: Int) throws -> [UInt8] {
        try file.read(at: offset, count: count)
    }
}

/// A source that lies whole on the medium, from `mediumStart` on: the helper asks the agent to
/// scan ranges of it as ranges of the medium, which the agent reads from its own descriptor,
/// instead of sending the bytes through the pipe.
public protocol OnMedium: ByteSource {
    var mediumStart: Int64 { get }
}

extension OnMedium {
    /// Where `length` bytes at `offset` of this source lie on the medium.
    public func mediumOffset(_ offset: Int64, _ length: Int64) -> Int64? {
        guard offset >= 0, length >= 0, offset <= count - length else { return nil }
        return mediumStart + offset
    }
}

/// A file read from the medium as the Protector asks.
public struct StreamedOnMedium: OnMedium {
    public let inner: MediaByteSource
    public let mediumStart: Int64

    public var count: Int64 { inner.count }

    public func read(at offset: Int64, count: Int) throws -> [UInt8] { try inner.read(at: offset, count: count) }
}

/// A file in memory that lies whole on the medium (the usual case on a CD).
public struct InMemoryOnMedium: InMemoryBytes, OnMedium {
    public let bytes: [UInt8]
    public let mediumStart: Int64

    public var count: Int64 { Int64(bytes.count) }

    public func read(at offset: Int64, count: Int) throws -> [UInt8] { try InMemoryByteSource(bytes).read(at: offset, count: count) }
}

/// A local file read with pread, for `inspect`: large files are never loaded whole.
public final class FileByteSource: ByteSource {
    public let file: SystemFile

    public init(_ file: SystemFile) { self.file = file }

    public var count: Int64 { file.size }

    /// Straight into the caller's buffer (an engine's), with one copy from the page cache.
    public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try file.read(at: offset, into: buffer)
    }

    public func read(at offset: Int64, count: Int) throws -> [UInt8] {
        // Filled by pread, never zeroed first.
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let n = try file.read(at: offset + Int64(done), into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[done...])))
                guard n > 0 else { throw MediaError.shortRead("\(file.path): \(count - done) byte(s) missing at \(offset + Int64(done))") }
                done += n
            }
            initialized = count
        }
    }

    public func sha256() throws -> String {
        var hash = SHA256()
        var offset: Int64 = 0
        while offset < count {
            let piece = try read(at: offset, count: Int(min(4 << 20, count - offset)))
            hash.update(data: piece)
            offset += Int64(piece.count)
        }
        return hash.finalize().lowercaseHex
    }
}
