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

/// A source that lies whole on the medium, from `mediumStart` on: the helper asks the agent to
/// scan ranges of it as ranges of the medium, which the agent reads from its own descriptor,
/// instead of sending the bytes through the pipe.
protocol OnMedium: ByteSource {
    var mediumStart: Int64 { get }
}

extension OnMedium {
    /// Where `length` bytes at `offset` of this source lie on the medium.
    func mediumOffset(_ offset: Int64, _ length: Int64) -> Int64? {
        guard offset >= 0, length >= 0, offset <= count - length else { return nil }
        return mediumStart + offset
    }
}

/// A file read from the medium as the Protector asks.
struct StreamedOnMedium: OnMedium {
    let inner: MediaByteSource
    let mediumStart: Int64

    var count: Int64 { inner.count }

    func read(at offset: Int64, count: Int) throws -> [UInt8] { try inner.read(at: offset, count: count) }
}

/// A file in memory that lies whole on the medium (the usual case on a CD).
struct InMemoryOnMedium: InMemoryBytes, OnMedium {
    let bytes: [UInt8]
    let mediumStart: Int64

    var count: Int64 { Int64(bytes.count) }

    func read(at offset: Int64, count: Int) throws -> [UInt8] { try InMemoryByteSource(bytes).read(at: offset, count: count) }
}
