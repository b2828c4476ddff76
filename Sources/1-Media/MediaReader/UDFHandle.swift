import CCdio

/// Owner of one `udf_t` from `udf_open`, closed with `udf_close` in deinit.
final class UDFHandle {
    let raw: OpaquePointer

    /// nil when libudf finds no anchor volume descriptor / primary volume descriptor.
    init?(path: String) {
        _ = cdioQuietLogging
        guard let handle = udf_open(path) else { return nil }
        raw = handle
    }

    deinit { udf_close(raw) }

    /// `udf_get_root` on any partition; the caller owns the dirent (freed by `UDFCursor`).
    func root() -> UDFCursor? {
        udf_get_root(raw, 1, 0)  // libcdio declares `bool` as uint8_t here
           .map(UDFCursor.init)
    }

    /// Volume identifier (libudf decodes it to Latin-1 bytes, here read as Latin-1).
    var volumeID: String {
        var buffer = [CChar](repeating: 0, count: 128)
        let needed = udf_get_volume_id(raw, &buffer, UInt32(buffer.count))
        guard needed > 0 else { return "" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) })).trimmingSpaces
    }
}

/// Owner of one `udf_dirent_t`: a directory being read. libudf frees the dirent itself when
/// `udf_readdir` reaches the end (or fails) and returns NULL; otherwise `udf_dirent_free` in deinit.
/// The handle is kept alive because the dirent points into it.
final class UDFCursor {
    private(set) var dirent: UnsafeMutablePointer<udf_dirent_t>?

    init(_ dirent: UnsafeMutablePointer<udf_dirent_t>) { self.dirent = dirent }

    deinit { if let dirent { udf_dirent_free(dirent) } }

    /// Advances to the next File Identifier Descriptor; false at the end (dirent already freed).
    func next() -> Bool {
        guard let current = dirent else { return false }
        guard let advanced = udf_readdir(current) else { dirent = nil; return false }
        dirent = advanced
        return true
    }

    /// `udf_opendir` on the current entry: a new dirent for the subdirectory, owned by the result.
    /// libudf copies the entry's decoded name with `strdup`, which must not be NULL.
    func openSubdirectory() -> UDFCursor? {
        guard let dirent, dirent.pointee.psz_name != nil else { return nil }
        return udf_opendir(dirent).map(UDFCursor.init)
    }

    /// Byte offset of the current FID inside the directory buffer libudf read.
    var fidOffset: Int? {
        guard let dirent, let fid = dirent.pointee.fid, let sector = dirent.pointee.sector else { return nil }
        return UnsafeRawPointer(fid) - UnsafeRawPointer(sector)
    }

    /// Where the directory's data lies and how long it is, as libudf will read it.
    var layout: (partitionStart: UInt32, first: UInt32, last: UInt32, length: UInt64, fileEntry: [UInt8])? {
        guard let dirent else { return nil }
        let fe = withUnsafeBytes(of: dirent.pointee.fe) { Array($0) }
        return (dirent.pointee.i_part_start, dirent.pointee.i_loc, dirent.pointee.i_loc_end, dirent.pointee.dir_left, fe)
    }
}
