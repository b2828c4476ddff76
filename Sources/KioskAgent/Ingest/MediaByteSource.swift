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
