import CCdio
import Foundation

/// libcdio's default log handler calls `exit()` on error-level messages, which hostile media can
/// trigger; this process-wide handler drops all libcdio messages instead (problems are reported
/// through `MediaError`). Installed once, before any libcdio/libudf handle is opened.
let cdioQuietLogging: Void = {
    _ = cdio_log_set_handler { _, _ in }
}()

/// libiso9660 splits paths with `strtok` (its own comment: "non-reentrant"), so path lookups
/// from two volumes on two threads must not overlap.
let cdioPathLock = NSLock()

/// What this reader keeps from one `iso9660_stat_t` (copied before the list is freed).
struct ISOStat {
    /// The name libiso9660 computed (Rock Ridge NM, else Joliet, else the raw identifier):
    /// the exact bytes its path lookup compares with.
    let cdioName: [UInt8]
    let lsn: UInt32
    let size: UInt32
    let isDirectory: Bool
    let rockRidge: Bool
    /// POSIX mode from the Rock Ridge PX entry (0 without Rock Ridge).
    let mode: UInt32
    let isSymlink: Bool
}

/// Owner of one `iso9660_t` from `iso9660_open_ext`, closed with `iso9660_close` in deinit.
final class ISO9660Handle {
    private let raw: OpaquePointer

    /// Opens `path` with the given extension mask (`ISO_EXTENSION_ALL` or `_NONE`); nil when
    /// libiso9660 does not accept it as ISO9660.
    init?(path: String, extensions: iso_extension_mask_t) {
        _ = cdioQuietLogging
        guard let handle = iso9660_open_ext(path, extensions) else { return nil }
        raw = handle
    }

    deinit { iso9660_close(raw) }

    var jolietLevel: UInt8 { iso9660_ifs_get_joliet_level(raw) }

    /// `iso9660_ifs_readdir`: the list and every `iso9660_stat_t` in it belong to the caller and
    /// are released together by `iso9660_filelist_free` (which calls `iso9660_stat_free` on each).
    /// nil when libiso9660 cannot read the directory.
    func readdir(_ path: [UInt8]) -> [ISOStat]? {
        cdioPathLock.lock()
        defer { cdioPathLock.unlock() }
        let list: OpaquePointer? = (path + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { iso9660_ifs_readdir(raw, $0.baseAddress) }
        }
        guard let list else { return nil }
        defer { iso9660_filelist_free(list) }
        var stats: [ISOStat] = []
        var node = _cdio_list_begin(list)
        while let current = node {
            if let data = _cdio_list_node_data(current) {
                stats.append(ISOStat(data.assumingMemoryBound(to: iso9660_stat_t.self)))
            }
            node = _cdio_list_node_next(current)
        }
        return stats
    }
}

extension ISOStat {
    init(_ stat: UnsafeMutablePointer<iso9660_stat_t>) {
        cdioName = ccdio_stat_filename(stat).map { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) } ?? []
        lsn = stat.pointee.lsn < 0 ? 0 : UInt32(stat.pointee.lsn)
        size = stat.pointee.size
        isDirectory = stat.pointee.type == _STAT_DIR
        rockRidge = stat.pointee.rr.b3_rock == yep
        mode = rockRidge ? UInt32(stat.pointee.rr.st_mode) : 0
        // Rock Ridge SL entry or PX mode S_IFLNK.
        isSymlink = rockRidge && ((mode & 0o170000) == 0o120000 || stat.pointee.rr.i_symlink > 0)
    }
}

extension ISOStat {
    /// What libiso9660 would say about a record, from the record alone (Rock Ridge entries read in
    /// Swift): for directories whose path libiso9660 cannot look up.
    init(record: ISORecord, joliet: Bool) {
        if let name = record.rockRidgeName {
            cdioName = name
        } else if joliet {
            cdioName = Array(ISODescriptors.ucs2(record.identifier).utf8)
        } else {
            cdioName = record.identifier
        }
        lsn = record.extent
        size = record.size
        isDirectory = record.isDirectory
        rockRidge = record.rockRidgeName != nil || record.rockRidgeMode != nil
        mode = record.rockRidgeMode ?? 0
        isSymlink = record.hasSymlinkEntry || (mode & 0o170000) == 0o120000
    }
}
