import CBlkid
#if canImport(Glibc)
import Glibc
#endif

/// What libblkid recognised on an image file or block device. Names and extensions are never
/// consulted: only the bytes.
///
/// To open it: when `filesystem` is set, open that volume on the whole source (a hybrid ISO
/// also lists its MBR partitions: ignore them); otherwise open each partition whose
/// `filesystem` is set at its `offset`/`size`; with neither, the media is unsupported.
public struct ProbeResult: Sendable, Equatable {
    /// The file system to open at offset 0, or nil (then look at `partitions`).
    /// For a bridge disc (ISO9660 + UDF) this is `.udf`: the UDF tree of a DVD/Blu-ray is the
    /// authoritative one (ISO9660 there is a compatibility shadow limited to 4 GiB files).
    public let filesystem: FilesystemType?
    /// Every supported file system found at offset 0, preferred first (`[.udf, .iso9660]` for a bridge disc).
    public let filesystems: [FilesystemType]
    /// blkid's TYPE at offset 0, also for types we do not read (e.g. "ntfs"); nil when none.
    public let rawType: String?
    /// blkid's LABEL at offset 0, nil when none.
    public let label: String?
    /// blkid's PTTYPE ("dos", "gpt", …) when a partition table was found.
    public let partitionTable: String?
    /// Partitions of that table, each probed on its own.
    public let partitions: [Partition]

    public struct Partition: Sendable, Equatable {
        /// Partition number as the table gives it (1-based for dos/gpt).
        public let number: Int
        /// Byte offset of the partition from the start of the source.
        public let offset: Int64
        /// Size in bytes.
        public let size: Int64
        public let filesystem: FilesystemType?
        public let rawType: String?
        public let label: String?
    }
}

/// Identifies file systems and partition tables with libblkid.
public enum Probe {
    /// Probes `path` (image file or block device). Throws `.ambiguous` when blkid sees
    /// contradicting signatures, `.io` when the source cannot be read.
    /// A directory (a mounted or copied medium) is reported as `.directory` without probing.
    public static func identify(path: String) throws(MediaError) -> ProbeResult {
        try identify(try SystemFile(readOnly: path))
    }

    static func identify(_ source: SystemFile) throws(MediaError) -> ProbeResult {
        let path = source.path
        var status = stat()
        guard fstat(source.descriptor, &status) == 0 else { throw .io(operation: "fstat \(path)", errno: errno) }
        if status.st_mode & S_IFMT == S_IFDIR {
            return ProbeResult(filesystem: .directory, filesystems: [.directory], rawType: nil, label: nil,
                               partitionTable: nil, partitions: [])
        }
        let whole = try BlkidProbe(file: source, offset: 0, size: source.size, partitions: true)
        let found = try whole.safeprobe()
        var filesystems: [FilesystemType] = []
        var rawType: String?, label: String?, table: String?
        if found {
            rawType = whole.value("TYPE")
            label = whole.value("LABEL")
            table = whole.value("PTTYPE")
            if let type = rawType.flatMap(FilesystemType.init(blkidType:)) { filesystems.append(type) }
        }
        // A bridge disc carries both; blkid reports only the one it prefers, so look for the other.
        if filesystems.first == .udf || filesystems.first == .iso9660 {
            let other: FilesystemType = filesystems.first == .udf ? .iso9660 : .udf
            let only = try BlkidProbe(file: source, offset: 0, size: source.size, partitions: false)
            if try only.safeprobe(onlyType: other.rawValue), only.value("TYPE") == other.rawValue {
                filesystems.append(other)
                filesystems.sort { $0 == .udf && $1 != .udf }
            }
        }
        var partitions: [ProbeResult.Partition] = []
        if found, table != nil {
            for slice in whole.partitionSlices() {
                // A slice that claims to lie beyond the source is reported as unreadable, not probed.
                guard slice.offset >= 0, slice.size > 0, slice.offset <= source.size,
                      slice.size <= source.size - slice.offset else {
                    partitions.append(.init(number: slice.number, offset: slice.offset, size: slice.size,
                                            filesystem: nil, rawType: nil, label: nil))
                    continue
                }
                let part = try BlkidProbe(file: source, offset: slice.offset, size: slice.size, partitions: false)
                let ok = try part.safeprobe()
                let type = ok ? part.value("TYPE") : nil
                partitions.append(.init(number: slice.number, offset: slice.offset, size: slice.size,
                                        filesystem: type.flatMap(FilesystemType.init(blkidType:)),
                                        rawType: type, label: ok ? part.value("LABEL") : nil))
            }
        }
        // blkid knows no ZIP. An image file (an upload) with nothing blkid reads is a ZIP archive when
        // it ends with a ZIP end record; a block device never is.
        if filesystems.isEmpty, rawType == nil, table == nil, status.st_mode & S_IFMT == S_IFREG,
           (try? ZipDirectoryLocation.find(in: source)) != nil {
            filesystems = [.zip]
        }
        return ProbeResult(filesystem: filesystems.first, filesystems: filesystems, rawType: rawType,
                           label: label, partitionTable: table, partitions: partitions)
    }
}

extension FilesystemType {
    /// Maps blkid's TYPE names to the file systems this module reads.
    init?(blkidType: String) {
        switch blkidType {
        case "iso9660": self = .iso9660
        case "udf": self = .udf
        case "vfat": self = .vfat
        case "exfat": self = .exfat
        default: return nil
        }
    }
}

/// Owner of one `blkid_probe`, freed with `blkid_free_probe` in deinit. The probe reads through
/// the caller's descriptor (`blkid_probe_set_device`), which must outlive it: hence `file`.
final class BlkidProbe {
    private let handle: blkid_probe
    private let file: SystemFile

    init(file: SystemFile, offset: Int64, size: Int64, partitions: Bool) throws(MediaError) {
        guard let probe = blkid_new_probe() else { throw .io(operation: "blkid_new_probe", errno: ENOMEM) }
        handle = probe
        self.file = file
        guard blkid_probe_set_device(probe, file.descriptor, blkid_loff_t(offset), blkid_loff_t(size)) == 0 else {
            throw .io(operation: "blkid_probe_set_device \(file.path)", errno: errno == 0 ? EIO : errno)
        }
        blkid_probe_enable_superblocks(probe, 1)
        blkid_probe_set_superblocks_flags(probe, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE)
        blkid_probe_enable_partitions(probe, partitions ? 1 : 0)
    }

    deinit { blkid_free_probe(handle) }

    /// `blkid_do_safeprobe`: 0 found → true, 1 nothing → false, -2 ambivalent → `.ambiguous`,
    /// -1 error → `.io`. With `onlyType`, only that superblock prober runs.
    func safeprobe(onlyType: String? = nil) throws(MediaError) -> Bool {
        if let onlyType {
            var name = Array(onlyType.utf8CString)
            let status = name.withUnsafeMutableBufferPointer { buffer -> Int32 in
                var names: [UnsafeMutablePointer<CChar>?] = [buffer.baseAddress, nil]
                return blkid_probe_filter_superblocks_type(handle, BLKID_FLTR_ONLYIN, &names)
            }
            guard status == 0 else { throw .io(operation: "blkid filter \(onlyType)", errno: EINVAL) }
        }
        errno = 0
        switch blkid_do_safeprobe(handle) {
        case 0: return true
        case 1: return false
        case -2: throw .ambiguous("\(file.path): more than one file system or partition table signature")
        default: throw .io(operation: "blkid_do_safeprobe \(file.path)", errno: errno == 0 ? EIO : errno)
        }
    }

    /// A probed value (TYPE, LABEL, PTTYPE…) after a successful probe, nil when absent.
    func value(_ name: String) -> String? {
        var data: UnsafePointer<CChar>?
        var length = 0
        guard blkid_probe_lookup_value(handle, name, &data, &length) == 0, let data else { return nil }
        // blkid's length counts the terminating NUL; decode invalid UTF-8 with replacement characters.
        let bytes = UnsafeRawBufferPointer(start: data, count: max(0, length)).prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The partitions blkid found (after `safeprobe` with partitions enabled), offsets in bytes.
    func partitionSlices() -> [(number: Int, offset: Int64, size: Int64)] {
        guard let list = blkid_probe_get_partitions(handle) else { return [] }
        let count = blkid_partlist_numof_partitions(list)
        guard count > 0 else { return [] }
        // blkid reports partition start and size in 512-byte sectors.
        return (0..<count).compactMap { index in
            guard let part = blkid_partlist_get_partition(list, index) else { return nil }
            let (offset, o1) = Int64(blkid_partition_get_start(part)).multipliedReportingOverflow(by: 512)
            let (size, o2) = Int64(blkid_partition_get_size(part)).multipliedReportingOverflow(by: 512)
            guard !o1, !o2 else { return nil }
            return (Int(blkid_partition_get_partno(part)), offset, size)
        }
    }
}
