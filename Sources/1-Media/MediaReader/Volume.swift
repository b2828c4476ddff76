/// Bounds on a walk over untrusted media (THREATS.md 13, 14): a hostile image can describe
/// millions of entries, endless depth or petabytes of files.
public struct WalkLimits: Sendable, Equatable, Codable {
    public var maxDepth: Int = 32
    public var maxEntries: Int = 200_000
    public var maxTotalBytes: Int64 = 64 << 30
    public var maxFileSize: Int64 = 8 << 30

    public init() {}
}

public enum FilesystemType: String, Sendable, Codable, CaseIterable {
    case iso9660, udf, vfat, exfat, directory
    /// A ZIP archive (`ZipVolume`): an upload or an image file ending with a ZIP end record; never a block device.
    case zip
    /// One regular file on its own (`inspect` of a file): never probed as an image.
    case file
}

/// One file found on a volume. `locator` is the volume's own handle for it (an extent, a first
/// cluster, a descriptor path) and is only meaningful to the volume that produced it.
public struct MediaEntry: Sendable, Hashable {
    public enum Kind: String, Sendable { case file, directory, symlink, other }

    public let path: MediaPath
    public let kind: Kind
    public let size: Int64
    public let locator: Locator

    public struct Locator: Sendable, Hashable {
        public let start: Int64
        public let extra: Int64
        public init(start: Int64, extra: Int64 = 0) { self.start = start; self.extra = extra }
    }

    public init(path: MediaPath, kind: Kind, size: Int64, locator: Locator) {
        self.path = path; self.kind = kind; self.size = size; self.locator = locator
    }
}

/// Something wrong found during a walk. The walk continues past it.
public struct MediaProblem: Sendable, Equatable {
    public let path: MediaPath
    public let error: MediaError
    /// A file the walk found but whose content cannot be read (its chain or extent is broken):
    /// it is still listed in the report, refused, so nothing on the medium goes unaccounted.
    public let unreadable: MediaEntry?
    public init(path: MediaPath, error: MediaError, unreadable: MediaEntry? = nil) {
        self.path = path; self.error = error; self.unreadable = unreadable
    }

    /// A directory below the root whose entries could not be listed. What it held is lost — and
    /// it is listed as refused — unless the error is a loop or a cross-link (its entries are
    /// listed where the walk met them first) or a limit (reported as such).
    static func unlisted(_ path: MediaPath, _ error: MediaError, locator: MediaEntry.Locator = .init(start: 0)) -> MediaProblem {
        let lost: Bool = switch error {
        case .corrupt, .io, .shortRead, .unsupported, .ambiguous: path != .root
        case .unsafePath, .renamed, .loop, .crossLink, .limitExceeded: false
        }
        return MediaProblem(path: path, error: error,
                            unreadable: lost ? MediaEntry(path: path, kind: .directory, size: 0, locator: locator) : nil)
    }
}

/// Random access to the bytes of one file on the media. Reads are bounded by the entry's size;
/// a read error ends this file only.
public protocol MediaFile: AnyObject {
    var entry: MediaEntry { get }
    /// The file's bytes as one range of the medium the volume was opened on, in order; nil when
    /// they are not (fragmented, in a partition, a file of a directory). The agent scans such a
    /// file's bytes from its own descriptor of the medium instead of receiving them from the helper.
    var mediumRange: Range<Int64>? { get }
    /// Reads up to `buffer.count` bytes at `offset` (0-based within the file). Returns the number
    /// of bytes read: fewer only at the end of the file.
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(MediaError) -> Int
}

extension MediaFile {
    public var mediumRange: Range<Int64>? { nil }

    /// Reads `count` bytes at `offset`, clamped to the file's size.
    public func read(at offset: Int64, count: Int) throws(MediaError) -> [UInt8] {
        let available = max(0, min(Int64(count), entry.size - offset))
        guard available > 0 else { return [] }
        var failure: MediaError?
        var ended: Int64?
        // Filled by `read` below, not zeroed first (whole files pass through here).
        let bytes = [UInt8](unsafeUninitializedCapacity: Int(available)) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var done = 0
            while done < raw.count {
                let n: Int
                do throws(MediaError) { n = try read(at: offset + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: raw[done...])) }
                catch { failure = error; break }
                if n == 0 { ended = offset + Int64(done); break }
                done += n
            }
            initialized = done
        }
        if let failure { throw failure }
        if let ended { throw .shortRead("\(entry.path) ended at \(ended) of \(entry.size) bytes") }
        return bytes
    }

    /// The whole file. Callers check `entry.size` against their own budget first.
    public func readAll() throws(MediaError) -> [UInt8] { try read(at: 0, count: Int(entry.size)) }
}

/// A file system on untrusted media, read in user space without mounting.
///
/// Volumes hold C handles or descriptors and are not thread-safe: one task walks and reads a
/// volume; parsing of the bytes read may fan out to other tasks.
public protocol Volume: AnyObject {
    var filesystem: FilesystemType { get }
    /// Volume label (ISO volume id, FAT label, directory name); may be empty.
    var label: String { get }
    /// Visits every entry (files, and directories before their contents) depth-first in a stable
    /// order, within `limits`. Problems are reported through `problem` and the walk goes on.
    /// Symlinks are reported as `.symlink` entries and never followed.
    func walk(limits: WalkLimits, visit: (MediaEntry) -> Void, problem: (MediaProblem) -> Void)
    /// Opens a file entry previously produced by `walk` on this volume.
    func open(_ entry: MediaEntry) throws(MediaError) -> any MediaFile
}
