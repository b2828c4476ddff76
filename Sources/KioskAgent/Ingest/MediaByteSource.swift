import DICOMCore
import MediaReader

/// Lets the codec read a file straight from the media, for files too large to hold in memory.
/// Not thread-safe: used only by the task that owns the volume.
final class MediaByteSource: ByteSource {
    let file: any MediaFile

    init(_ file: any MediaFile) { self.file = file }

    var count: Int64 { file.entry.size }

    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        try file.read(at: offset, count: count)
    }
}

/// A file's bytes as the Protector reads them, and where they lie on the medium: the helper asks
/// the agent to scan ranges of such a file as ranges of the medium, which the agent reads from its
/// own descriptor, instead of sending the bytes through the pipe.
struct OnMediumSource: ByteSource {
    let inner: any ByteSource
    /// The medium offset of the file's first byte.
    let start: Int64

    var count: Int64 { inner.count }

    func read(at offset: Int64, count: Int) throws -> [UInt8] { try inner.read(at: offset, count: count) }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try inner.read(at: offset, into: buffer)
    }
}

/// A file in memory that lies whole on the medium (the usual case on a CD).
struct InMemoryOnMedium: InMemoryBytes {
    let bytes: [UInt8]
    let start: Int64

    var count: Int64 { Int64(bytes.count) }

    func read(at offset: Int64, count: Int) throws -> [UInt8] { try InMemoryByteSource(bytes).read(at: offset, count: count) }
}

extension ByteSource {
    /// Where `length` bytes at `offset` of this source lie on the medium, when the source knows.
    func mediumOffset(_ offset: Int64, _ length: Int64) -> Int64? {
        guard offset >= 0, length >= 0, offset <= count - length else { return nil }
        if let source = self as? OnMediumSource { return source.start + offset }
        if let source = self as? InMemoryOnMedium { return source.start + offset }
        return nil
    }
}
