#if canImport(Glibc)
import Glibc
#endif

/// Opens whatever the operator inserted (a block device, a disc or USB image file, or a
/// directory) as a `Volume`. The type comes from probing the content, never from a name.
public enum MediaSource {
    public struct Opened {
        public let volume: any Volume
        /// What was probed, for the report: partition chosen, bridge disc, …
        public let notes: [String]
    }

    public static func open(path: String) throws(MediaError) -> Opened {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw .io(operation: "stat \(path)", errno: errno) }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            return Opened(volume: try DirectoryVolume(path: path), notes: [])
        case S_IFREG, S_IFBLK:
            break
        case S_IFLNK:
            throw .unsupported("\(path) is a symbolic link; name the device or image itself")
        default:
            throw .unsupported("\(path) is neither a directory, a regular file nor a block device")
        }
        return try open(probing: try SystemFile(readOnly: path))
    }

    /// Opens a source through a descriptor another process opened read-only and handed over (the
    /// sandboxed media helper, issue 7): nothing is opened by name; `path` only names it.
    /// `oneFile`: the descriptor is one file to read as it is (`inspect`), not an image to probe.
    public static func open(descriptor: Int32, path: String, oneFile: Bool = false) throws(MediaError) -> Opened {
        if oneFile { return Opened(volume: try SingleFileVolume(duplicating: descriptor, path: path), notes: []) }
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { throw .io(operation: "fstat \(path)", errno: errno) }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return Opened(volume: try DirectoryVolume(duplicating: descriptor, path: path), notes: [])
        case S_IFREG, S_IFBLK: return try open(probing: try SystemFile(duplicating: descriptor, path: path))
        default: throw .unsupported("\(path) is neither a directory, a regular file nor a block device")
        }
    }

    private static func open(probing source: SystemFile) throws(MediaError) -> Opened {
        let probe = try Probe.identify(source)
        if let filesystem = probe.filesystem {
            return Opened(volume: try open(source, filesystem: filesystem, offset: 0, length: nil),
                          notes: probe.filesystems.count > 1
                              ? ["bridge disc (\(probe.filesystems.map(\.rawValue).joined(separator: "+"))): read as \(filesystem.rawValue)"]
                              : [])
        }
        // A partitioned stick or its image: take the first partition we can read.
        for partition in probe.partitions {
            guard let filesystem = partition.filesystem, filesystem == .vfat || filesystem == .exfat else { continue }
            let volume = try open(source, filesystem: filesystem, offset: partition.offset, length: partition.size)
            return Opened(volume: volume, notes: ["\(probe.partitionTable ?? "partition table"): partition \(partition.number) at offset \(partition.offset)"])
        }
        if let raw = probe.rawType {
            throw .unsupported("file system \(raw) is not one the agent reads")
        }
        if !probe.partitions.isEmpty {
            throw .unsupported("no readable file system on any of \(probe.partitions.count) partition(s)")
        }
        throw .unsupported("no file system recognised")
    }

    static func open(path: String, filesystem: FilesystemType, offset: Int64, length: Int64?) throws(MediaError) -> any Volume {
        if filesystem == .directory { return try DirectoryVolume(path: path) }
        return try open(try SystemFile(readOnly: path), filesystem: filesystem, offset: offset, length: length)
    }

    /// Each volume keeps its own descriptor (a duplicate), so the probe's can close.
    static func open(_ source: SystemFile, filesystem: FilesystemType, offset: Int64, length: Int64?) throws(MediaError) -> any Volume {
        func image() throws(MediaError) -> SystemFile { try SystemFile(duplicating: source.descriptor, path: source.path) }
        switch filesystem {
        case .iso9660: return try ISO9660Volume(image: image())
        case .udf: return try UDFVolume(image: image())
        case .vfat: return try FATVolume(image: image(), offset: offset, length: length)
        case .exfat: return try ExFATVolume(image: image(), offset: offset, length: length)
        case .directory: throw .unsupported("\(source.path) is not a directory")
        case .zip: return try ZipVolume(archive: image())
        case .file: throw .unsupported("\(source.path) is one file, not a volume")
        }
    }
}
