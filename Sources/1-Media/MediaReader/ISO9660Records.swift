/// ECMA-119 structures read directly from the image, in Swift, before libiso9660 sees them.
///
/// libiso9660 2.1.0 trusts on-disc lengths inside directory records and Rock Ridge (SUSP)
/// entries (e.g. an NM entry shorter than 5 bytes makes it `strncat` with a huge count into a
/// 256-byte stack buffer). Every directory extent is therefore scanned here first, with the
/// same record-walking rules libiso9660 uses, and rejected unless every length is consistent.
struct ISORecord: Equatable {
    let extent: UInt32
    let size: UInt32
    let flags: UInt8
    /// File identifier bytes as stored (d-characters, or UCS-2BE in a Joliet tree).
    let identifier: [UInt8]
    /// Rock Ridge CL (RRIP 4.1.5.1): this placeholder stands for a directory relocated to this extent.
    var childLink: UInt32?
    /// Rock Ridge RE (RRIP 4.1.5.3): this directory was relocated here and is listed under its CL placeholder.
    var relocated = false
    /// Rock Ridge as read here (NM name, PX mode, an SL entry), for directories listed by extent
    /// when libiso9660 cannot look their path up (see `ISO9660Volume.list`). Entries in
    /// continuation areas (CE) are not followed.
    var rockRidgeName: [UInt8]?
    var rockRidgeMode: UInt32?
    var hasSymlinkEntry = false

    var isDirectory: Bool { flags & 0x02 != 0 }
    /// ECMA-119 9.1.6 bit 7: the file continues in the next record (files over 4 GiB).
    var isMultiExtent: Bool { flags & 0x80 != 0 }
    /// "." and ".." are stored as the single bytes 0x00 and 0x01.
    var isSelfOrParent: Bool { identifier == [0] || identifier == [1] }
}

enum ISORecords {
    static let blockSize = 2048

    /// Scans one directory extent. Record layout (ECMA-119 9.1): [0] record length, [2..<6]
    /// extent LE, [10..<14] data length LE, [25] flags, [32] identifier length, [33…] identifier,
    /// a pad byte if the length is even, then the system use area (SUSP/Rock Ridge entries).
    /// A record never crosses a block boundary; a zero length byte means "next block".
    static func scan(_ bytes: [UInt8]) throws(MediaError) -> [ISORecord] {
        var records: [ISORecord] = []
        var offset = 0
        while offset < bytes.count {
            let length = Int(bytes[offset])
            let blockEnd = (offset / blockSize + 1) * blockSize
            if length == 0 || offset + length > blockEnd { offset = blockEnd; continue }
            guard length >= 34 else { throw .corrupt("directory record of \(length) bytes at offset \(offset)") }
            let nameLength = Int(bytes[offset + 32])
            guard nameLength >= 1, 33 + nameLength <= length else {
                throw .corrupt("identifier of \(nameLength) bytes overruns the \(length)-byte record at offset \(offset)")
            }
            // libiso9660 starts the system use area after 33 + name length, rounded up to even.
            let suspStart = (33 + nameLength + 1) & ~1
            var record = ISORecord(extent: le32(bytes, offset + 2), size: le32(bytes, offset + 10),
                                   flags: bytes[offset + 25],
                                   identifier: Array(bytes[(offset + 33)..<(offset + 33 + nameLength)]))
            if suspStart < length {
                try checkSystemUse(bytes[(offset + suspStart)..<(offset + length)], recordOffset: offset, into: &record)
            }
            records.append(record)
            offset += length
        }
        return records
    }

    /// SUSP entries (IEEE P1281 4.1): signature (2), length (1) including the header, version (1).
    /// Each Rock Ridge entry libiso9660 decodes must be long enough for the fields it reads.
    /// CL and RE (which libiso9660 ignores) are noted in `record`.
    static func checkSystemUse(_ area: ArraySlice<UInt8>, recordOffset: Int, into record: inout ISORecord) throws(MediaError) {
        var pos = area.startIndex
        while area.endIndex - pos > 1 {
            guard area.endIndex - pos >= 4 else { throw .corrupt("truncated SUSP entry in record at offset \(recordOffset)") }
            let length = Int(area[pos + 2])
            if length == 0 { return }  // libiso9660 stops at a zero length, as the kernel does.
            guard length >= 4, length <= area.endIndex - pos else {
                throw .corrupt("SUSP entry of \(length) bytes overruns the record at offset \(recordOffset)")
            }
            let entry = area[pos..<(pos + length)]
            let minimum: Int
            switch (area[pos], area[pos + 1]) {
            case (0x4E, 0x4D): minimum = 5                                     // NM: flags, name
                if length >= 5 {
                    // Flags: 1 CONTINUE (the name goes on in the next NM), 2 CURRENT ("."), 4 PARENT ("..").
                    let flags = entry[pos + 4]
                    let part: [UInt8] = flags & 2 != 0 ? [0x2E] : flags & 4 != 0 ? [0x2E, 0x2E] : Array(entry[(pos + 5)...])
                    record.rockRidgeName = (record.rockRidgeName ?? []) + part
                }
            case (0x53, 0x50): minimum = 7                                     // SP: magic BE EF, skip
            case (0x43, 0x45): minimum = 28                                    // CE: 3 × both-endian 32-bit
            case (0x43, 0x4C): minimum = 12                                    // CL: both-endian location
                if length >= 12 { record.childLink = UInt32(entry[pos + 4]) | UInt32(entry[pos + 5]) << 8
                                      | UInt32(entry[pos + 6]) << 16 | UInt32(entry[pos + 7]) << 24 }
            case (0x52, 0x45): minimum = 4; record.relocated = true            // RE: no payload
            case (0x50, 0x58): minimum = 36                                    // PX: mode, links, uid, gid
                if length >= 36 { record.rockRidgeMode = UInt32(entry[pos + 4]) | UInt32(entry[pos + 5]) << 8
                                      | UInt32(entry[pos + 6]) << 16 | UInt32(entry[pos + 7]) << 24 }
            case (0x45, 0x52): minimum = length >= 8 ? 8 + Int(entry[pos + 4]) : 8 // ER: id follows at 8
            case (0x54, 0x46):                                                 // TF: flags, then stamps
                let flags = length >= 5 ? entry[pos + 4] : 0
                let stamps = (0..<7).filter { flags & (1 << $0) != 0 }.count
                minimum = 5 + stamps * (flags & 0x80 != 0 ? 17 : 7)
            case (0x53, 0x4C):                                                 // SL: flags, components
                minimum = 5
                record.hasSymlinkEntry = true
                if length >= 5 { try checkSymlinkComponents(entry[(pos + 5)...], recordOffset: recordOffset) }
            default: minimum = 4
            }
            guard length >= minimum else {
                throw .corrupt("SUSP entry \(String(decoding: entry.prefix(2), as: UTF8.self)) of \(length) bytes, needs \(minimum), in record at offset \(recordOffset)")
            }
            pos += length
        }
    }

    /// SL component records: flags (1), length (1), text; libiso9660 walks them with an 8-bit
    /// remaining count that wraps when a component claims more than is left.
    static func checkSymlinkComponents(_ area: ArraySlice<UInt8>, recordOffset: Int) throws(MediaError) {
        var pos = area.startIndex
        while area.endIndex - pos > 1 {
            let length = Int(area[pos + 1])
            guard 2 + length <= area.endIndex - pos else {
                throw .corrupt("symlink component of \(length) bytes overruns its SL entry in record at offset \(recordOffset)")
            }
            pos += 2 + length
        }
    }

    static func le32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }
}

/// The volume descriptors this reader needs (ECMA-119 8): the primary one and a Joliet
/// supplementary one, each with its root directory record and volume identifier.
struct ISODescriptors {
    struct Tree { let root: ISORecord; let volumeID: String }
    let primary: Tree
    let joliet: Tree?

    /// Reads descriptors from sector 16 until the terminator (type 255), at most 64 of them.
    init(image: SystemFile) throws(MediaError) {
        var primary: Tree?, joliet: Tree?
        for index in 16..<(16 + 64) {
            let sector = try image.readBytes(at: Int64(index * ISORecords.blockSize), count: ISORecords.blockSize)
            guard sector.count == ISORecords.blockSize else { break }
            // [0] type, [1..<6] "CD001", [40..<72] volume id, [88..<91] Joliet escape, [156..<190] root record.
            guard sector[1...5].elementsEqual("CD001".utf8) else { break }
            if sector[0] == 255 { break }
            let rootRecords = try ISORecords.scan(Array(sector[156..<190]) + [UInt8](repeating: 0, count: ISORecords.blockSize - 34))
            guard let root = rootRecords.first else { continue }
            if sector[0] == 1, primary == nil {
                let id = String(decoding: sector[40..<72], as: UTF8.self)
                primary = Tree(root: root, volumeID: id.trimmingSpaces)
            } else if sector[0] == 2, joliet == nil, sector[88] == 0x25, sector[89] == 0x2F,
                      [0x40, 0x43, 0x45].contains(sector[90]) {
                joliet = Tree(root: root, volumeID: ISODescriptors.ucs2(sector[40..<72]).trimmingSpaces)
            }
        }
        guard let primary else { throw .unsupported("\(image.path): no ISO9660 primary volume descriptor") }
        self.primary = primary
        self.joliet = joliet
    }

    /// Joliet names and identifiers are UCS-2 big endian (surrogate pairs decode as UTF-16).
    static func ucs2<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let array = Array(bytes)
        let units = stride(from: 0, to: array.count - 1, by: 2).map { UInt16(array[$0]) << 8 | UInt16(array[$0 + 1]) }
        return String(decoding: units, as: UTF16.self)
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while scalars.last == " " || scalars.last == "\0" { scalars.removeLast() }
        return String(scalars)
    }

    /// ECMA-119 7.5: "NAME.EXT;1" → "NAME.EXT"; a name with an empty extension loses its dot.
    var strippingISOVersion: String {
        var name = Substring(self)
        if let semicolon = name.lastIndex(of: ";"), name[name.index(after: semicolon)...].allSatisfy(\.isASCIIDigit) {
            name = name[..<semicolon]
        }
        if name.last == ".", name.contains(where: { $0 != "." }) { name.removeLast() }
        return String(name)
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
