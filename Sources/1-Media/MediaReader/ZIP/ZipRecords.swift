/// The fixed-layout records of a ZIP archive (APPNOTE 6.3.10 §4.3). Each is decoded from a few
/// bytes read by `pread`; lengths and counts in them are claims to check, never sizes to allocate.

/// Little-endian fields of one record, read with bounds checks (a short record is `nil`).
struct ZipFields {
    let bytes: ArraySlice<UInt8>
    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }
    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    func u8(_ at: Int) -> UInt8 { bytes[bytes.startIndex + at] }
    func u16(_ at: Int) -> UInt16 { UInt16(u8(at)) | UInt16(u8(at + 1)) << 8 }
    func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
    func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
    func has(_ count: Int, at offset: Int) -> Bool { offset >= 0 && count <= bytes.count - offset }
    func array(_ range: Range<Int>) -> [UInt8] { Array(bytes[(bytes.startIndex + range.lowerBound) ..< (bytes.startIndex + range.upperBound)]) }
}

enum ZipSignature {
    static let local: UInt32 = 0x0403_4B50
    static let central: UInt32 = 0x0201_4B50
    static let end: UInt32 = 0x0605_4B50
    static let zip64End: UInt32 = 0x0606_4B50
    static let zip64Locator: UInt32 = 0x0706_4B50
    static let dataDescriptor: UInt32 = 0x0807_4B50
}

/// Where the central directory is, from the End of Central Directory record (and its ZIP64
/// record when the classic fields are saturated).
struct ZipDirectoryLocation {
    var entries: UInt64
    var offset: UInt64
    var size: UInt64
    /// Start of the EOCD (or ZIP64 EOCD) record: the central directory must end before it.
    var end: UInt64

    /// The EOCD is in the last 22 + 65,535 (comment) bytes; nothing beyond that is read.
    static let maxTail = 22 + 0xFFFF

    static func find(in archive: SystemFile) throws(MediaError) -> ZipDirectoryLocation {
        let tailLength = Int(min(archive.size, Int64(maxTail)))
        let tailStart = archive.size - Int64(tailLength)
        let tail = ZipFields(try archive.readBytes(at: tailStart, count: tailLength))
        guard tail.bytes.count == tailLength else { throw .shortRead("\(archive.path) ended while reading its last \(tailLength) bytes") }
        // A comment may itself hold the signature: the record is the one whose comment ends the
        // file. Two such records are two archives, one for each kind of reader: refused. Without
        // one, the last record whose comment fits is taken (bytes appended after an archive).
        let candidates = stride(from: tailLength - 22, through: 0, by: -1).filter { at in
            tail.u32(at) == ZipSignature.end && at + 22 + Int(tail.u16(at + 20)) <= tailLength
        }
        let exact = candidates.filter { $0 + 22 + Int(tail.u16($0 + 20)) == tailLength }
        guard exact.count <= 1 else {
            throw .ambiguous("\(archive.path) has \(exact.count) end of central directory records that each end the file")
        }
        guard let at = exact.first ?? candidates.first else {
            throw .corrupt("\(archive.path) has no ZIP end of central directory record (not a ZIP archive, or truncated)")
        }
        let disk = tail.u16(at + 4), directoryDisk = tail.u16(at + 6)
        var location = ZipDirectoryLocation(entries: UInt64(tail.u16(at + 10)), offset: UInt64(tail.u32(at + 16)),
                                            size: UInt64(tail.u32(at + 12)), end: UInt64(tailStart) + UInt64(at))
        let saturated = location.entries == 0xFFFF || location.offset == 0xFFFF_FFFF || location.size == 0xFFFF_FFFF
        if saturated, at >= 20, tail.u32(at - 20) == ZipSignature.zip64Locator {
            location = try zip64(in: archive, recordAt: tail.u64(at - 20 + 8), before: location.end - 20)
        } else if disk != 0 || directoryDisk != 0 {
            throw .unsupported("\(archive.path) is one part of a multi-volume ZIP archive")
        }
        guard location.offset <= location.end, location.size <= location.end - location.offset else {
            throw .corrupt("\(archive.path): central directory at \(location.offset) (\(location.size) bytes) runs past its end record at \(location.end)")
        }
        return location
    }

    private static func zip64(in archive: SystemFile, recordAt offset: UInt64, before limit: UInt64) throws(MediaError) -> ZipDirectoryLocation {
        guard offset <= limit, limit - offset >= 56 else {
            throw .corrupt("\(archive.path): ZIP64 end record at \(offset) lies outside the archive")
        }
        let record = ZipFields(try archive.readBytes(at: Int64(offset), count: 56))
        guard record.bytes.count == 56, record.u32(0) == ZipSignature.zip64End else {
            throw .corrupt("\(archive.path): no ZIP64 end of central directory record at \(offset)")
        }
        guard record.u32(16) == 0, record.u32(20) == 0 else {
            throw .unsupported("\(archive.path) is one part of a multi-volume ZIP archive")
        }
        return ZipDirectoryLocation(entries: record.u64(32), offset: record.u64(48), size: record.u64(40), end: offset)
    }
}

/// One central directory file header with its ZIP64 values resolved.
struct ZipCentralRecord {
    /// Offset of this header in the archive: the entry's identity for `open`.
    let offset: Int64
    let versionMadeBy: UInt16
    let flags: UInt16
    let method: UInt16
    let crc: UInt32
    let compressedSize: UInt64
    let uncompressedSize: UInt64
    let localOffset: UInt64
    let name: [UInt8]
    let extra: [UInt8]
    let externalAttributes: UInt32
    /// Bytes the header takes in the central directory.
    let length: Int

    static let fixedLength = 46

    var isEncrypted: Bool { flags & 1 != 0 || ZipExtra.find(0x9901, in: extra) != nil }
    var isUTF8: Bool { flags & 0x800 != 0 }
    var isDirectory: Bool { name.last == UInt8(ascii: "/") }
    /// A Unix symlink (made on Unix, `S_IFLNK` in the high half of the external attributes).
    var isSymlink: Bool { versionMadeBy >> 8 == 3 && (externalAttributes >> 16) & 0o170000 == 0o120000 }

    /// Decodes the header at the start of `fields` (fixed part plus variable fields); nil when
    /// `fields` does not hold all of it.
    init?(_ fields: ZipFields, at offset: Int64) throws(MediaError) {
        guard fields.has(ZipCentralRecord.fixedLength, at: 0) else { return nil }
        guard fields.u32(0) == ZipSignature.central else {
            throw .corrupt("no central directory header at byte \(offset)")
        }
        let nameLength = Int(fields.u16(28)), extraLength = Int(fields.u16(30)), commentLength = Int(fields.u16(32))
        length = ZipCentralRecord.fixedLength + nameLength + extraLength + commentLength
        guard fields.has(length, at: 0) else { return nil }
        self.offset = offset
        versionMadeBy = fields.u16(4)
        flags = fields.u16(8)
        method = fields.u16(10)
        crc = fields.u32(16)
        name = fields.array(46 ..< 46 + nameLength)
        extra = fields.array(46 + nameLength ..< 46 + nameLength + extraLength)
        externalAttributes = fields.u32(38)
        let sizes = try ZipExtra.zip64(extra, uncompressed: fields.u32(24), compressed: fields.u32(20),
                                       offset: fields.u32(42), disk: fields.u16(34))
        uncompressedSize = sizes.uncompressed
        compressedSize = sizes.compressed
        localOffset = sizes.offset
    }
}

/// A local file header: what the entry's own copy of the name and sizes says.
struct ZipLocalHeader {
    let flags: UInt16
    let method: UInt16
    let crc: UInt32
    let compressedSize: UInt64
    let uncompressedSize: UInt64
    let name: [UInt8]
    /// Header length: the entry's data starts this many bytes after the header.
    let length: Int

    static let fixedLength = 30

    /// Reads the header at `offset` (at most 30 + 2 × 65,535 bytes).
    init(in archive: SystemFile, at offset: Int64) throws(MediaError) {
        let fixed = ZipFields(try archive.readBytes(at: offset, count: ZipLocalHeader.fixedLength))
        guard fixed.bytes.count == ZipLocalHeader.fixedLength else { throw .shortRead("the archive ends inside the local header at \(offset)") }
        guard fixed.u32(0) == ZipSignature.local else { throw .corrupt("no local file header at byte \(offset)") }
        let nameLength = Int(fixed.u16(26)), extraLength = Int(fixed.u16(28))
        let variable = try archive.readBytes(at: offset + Int64(ZipLocalHeader.fixedLength), count: nameLength + extraLength)
        guard variable.count == nameLength + extraLength else { throw .shortRead("the archive ends inside the local header at \(offset)") }
        flags = fixed.u16(6)
        method = fixed.u16(8)
        crc = fixed.u32(14)
        name = Array(variable[..<nameLength])
        let extra = Array(variable[nameLength...])
        let sizes = try ZipExtra.zip64(extra, uncompressed: fixed.u32(22), compressed: fixed.u32(18), offset: 0, disk: 0)
        uncompressedSize = sizes.uncompressed
        compressedSize = sizes.compressed
        length = ZipLocalHeader.fixedLength + nameLength + extraLength
    }
}

/// The data descriptor after an entry's data (general purpose bit 3): CRC and sizes, with an
/// optional signature, 32- or 64-bit sizes.
struct ZipDataDescriptor {
    let length: Int

    /// Finds the descriptor at `offset` that agrees with the central record; throws when none does.
    init(in archive: SystemFile, at offset: Int64, matching record: ZipCentralRecord) throws(MediaError) {
        let fields = ZipFields(try archive.readBytes(at: offset, count: 24))
        for signed in [true, false] {
            let base = signed ? 4 : 0
            if signed, !(fields.has(4, at: 0) && fields.u32(0) == ZipSignature.dataDescriptor) { continue }
            guard fields.has(4, at: base), fields.u32(base) == record.crc else { continue }
            if fields.has(8, at: base + 4), UInt64(fields.u32(base + 4)) == record.compressedSize, UInt64(fields.u32(base + 8)) == record.uncompressedSize {
                length = base + 12
                return
            }
            if fields.has(20, at: base), fields.u64(base + 4) == record.compressedSize, fields.u64(base + 12) == record.uncompressedSize {
                length = base + 20
                return
            }
        }
        throw .corrupt("the data descriptor at byte \(offset) does not agree with the central directory (CRC or sizes)")
    }
}

/// Extra fields: (id, length, data) triples after the name.
enum ZipExtra {
    static func find(_ id: UInt16, in extra: [UInt8]) -> ArraySlice<UInt8>? {
        let fields = ZipFields(extra)
        var at = 0
        while fields.has(4, at: at) {
            let tag = fields.u16(at), length = Int(fields.u16(at + 2))
            guard fields.has(length, at: at + 4) else { return nil }
            if tag == id { return extra[(at + 4) ..< (at + 4 + length)] }
            at += 4 + length
        }
        return nil
    }

    /// Replaces each saturated 32-bit value by its 64-bit one from the ZIP64 extra field (0x0001),
    /// which holds only the saturated ones, in this order.
    static func zip64(_ extra: [UInt8], uncompressed: UInt32, compressed: UInt32, offset: UInt32, disk: UInt16)
        throws(MediaError) -> (uncompressed: UInt64, compressed: UInt64, offset: UInt64)
    {
        var result = (uncompressed: UInt64(uncompressed), compressed: UInt64(compressed), offset: UInt64(offset))
        guard uncompressed == .max || compressed == .max || offset == .max || disk == .max else { return result }
        guard let field = find(0x0001, in: extra) else {
            throw .corrupt("sizes or offset saturated (0xFFFFFFFF) without a ZIP64 extra field")
        }
        let values = ZipFields(field)
        var at = 0
        func next() throws(MediaError) -> UInt64 {
            guard values.has(8, at: at) else { throw .corrupt("ZIP64 extra field too short") }
            defer { at += 8 }
            return values.u64(at)
        }
        if uncompressed == .max { result.uncompressed = try next() }
        if compressed == .max { result.compressed = try next() }
        if offset == .max { result.offset = try next() }
        return result
    }
}
