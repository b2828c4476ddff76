#if canImport(Glibc)
import Glibc
#endif

/// Counts what a walk has admitted against `WalkLimits`. Shared by the ISO9660, UDF and
/// directory walkers so that every volume applies the same bounds.
struct WalkBudget {
    let limits: WalkLimits
    private(set) var entries = 0
    private(set) var bytes: Int64 = 0
    /// Set once a global limit (entries, total bytes) is hit: the walk stops.
    private(set) var exhausted = false

    init(_ limits: WalkLimits) { self.limits = limits }

    /// Admits one entry, or says which limit it breaks. A file over `maxFileSize` is skipped
    /// alone; the entry or byte limit ends the walk.
    mutating func admit(_ path: MediaPath, kind: MediaEntry.Kind, size: Int64) -> MediaError? {
        guard entries < limits.maxEntries else {
            exhausted = true
            return .limitExceeded("more than \(limits.maxEntries) entries; walk stopped at \(path)")
        }
        if kind == .file {
            guard size <= limits.maxFileSize else {
                return .limitExceeded("\(path) is \(size) bytes, over the \(limits.maxFileSize)-byte file limit")
            }
            guard size <= limits.maxTotalBytes - bytes else {
                exhausted = true
                return .limitExceeded("more than \(limits.maxTotalBytes) bytes in files; walk stopped at \(path)")
            }
            bytes += size
        }
        entries += 1
        return nil
    }

    /// Whether the contents of a directory at `path` may still be listed.
    func mayDescend(into path: MediaPath) -> MediaError? {
        path.depth < limits.maxDepth ? nil : .limitExceeded("\(path) is deeper than \(limits.maxDepth) levels; not listed")
    }
}

/// A file stored as one contiguous byte range of an image (ISO9660 extent, UDF extent).
/// Reads go straight to `pread` on the image, bounded by the entry's size.
final class ExtentFile: MediaFile {
    let entry: MediaEntry
    private let image: SystemFile
    private let base: Int64
    /// The image is the medium itself (not a file in a directory), from its first byte.
    private let isMedium: Bool

    var mediumRange: Range<Int64>? { isMedium ? base..<(base + entry.size) : nil }

    /// Refuses a range that does not lie inside the image.
    init(entry: MediaEntry, image: SystemFile, base: Int64, isMedium: Bool = false) throws(MediaError) {
        guard base >= 0, entry.size >= 0, base <= image.size else {
            throw .corrupt("\(entry.path) starts at byte \(base), outside the \(image.size)-byte image")
        }
        guard entry.size <= image.size - base else {
            throw .shortRead("\(entry.path) needs bytes \(base)..<\(base &+ entry.size) but the image ends at \(image.size)")
        }
        self.entry = entry
        self.image = image
        self.base = base
        self.isMedium = isMedium
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(MediaError) -> Int {
        guard offset >= 0 else { throw .corrupt("negative offset \(offset) in \(entry.path)") }
        guard offset < entry.size, buffer.count > 0 else { return 0 }
        let wanted = Int(min(Int64(buffer.count), entry.size - offset))
        let got = try image.read(at: base + offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<wanted]))
        // The range was inside the image when opened; a shorter read means it shrank or failed.
        guard got == wanted else {
            throw .shortRead("\(entry.path) ended at byte \(offset + Int64(got)) of \(entry.size)")
        }
        return got
    }
}

extension SystemFile {
    /// The length of a volume at `offset` (the whole rest of the source unless `length` is given),
    /// refused when it does not lie inside the source.
    func volumeLength(offset: Int64, length: Int64?, what: String) throws(MediaError) -> Int64 {
        let volumeLength = length ?? (size - offset)
        guard offset >= 0, volumeLength > 0, offset <= size - volumeLength else {
            throw .corrupt("\(what) volume at \(offset) (\(volumeLength) bytes) lies outside the \(size)-byte source")
        }
        return volumeLength
    }

    /// Reads up to `count` bytes at `offset`; the array is shorter only at the end of the file.
    func readBytes(at offset: Int64, count: Int) throws(MediaError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let result: Result<Int, MediaError> = bytes.withUnsafeMutableBytes { raw in
            do throws(MediaError) { return .success(try read(at: offset, into: raw)) } catch { return .failure(error) }
        }
        bytes.removeLast(count - (try result.get()))
        return bytes
    }
}
