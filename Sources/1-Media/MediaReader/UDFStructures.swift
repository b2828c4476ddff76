/// ECMA-167 structures read in Swift: the File Identifier Descriptors of a directory (checked
/// before libudf walks them: libudf 2.1.0 advances through them with lengths it never compares
/// with its buffer) and File Entries (to find where a file's bytes are).
enum UDF {
    static let blockSize = 2048
    static let tagFID: UInt16 = 0x0101
    static let tagFileEntry: UInt16 = 0x0105
    static let tagExtendedFileEntry: UInt16 = 0x010A

    /// Descriptor tag (ECMA-167 3/7.2): [0..<2] id, [4] checksum = sum of bytes 0–15 except byte 4.
    static func hasTag(_ bytes: [UInt8], at offset: Int, id: UInt16) -> Bool {
        guard offset >= 0, offset + 16 <= bytes.count, le16(bytes, offset) == id else { return false }
        var sum: UInt8 = 0
        for index in 0..<16 where index != 4 { sum &+= bytes[offset + index] }
        return sum == bytes[offset + 4]
    }

    static func le16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) | UInt16(b[at + 1]) << 8 }
    static func le32(_ b: [UInt8], _ at: Int) -> UInt32 { UInt32(le16(b, at)) | UInt32(le16(b, at + 2)) << 16 }
    static func le64(_ b: [UInt8], _ at: Int) -> UInt64 { UInt64(le32(b, at)) | UInt64(le32(b, at + 4)) << 32 }

    /// OSTA CS0 d-string (UDF 2.1.1): compression id 8 = one byte per character (Latin-1),
    /// 16 = UTF-16 big endian. nil for anything else.
    static func decodeName(_ bytes: ArraySlice<UInt8>) -> String? {
        guard let id = bytes.first else { return nil }
        let chars = bytes.dropFirst()
        switch id {
        case 8: return String(String.UnicodeScalarView(chars.map { Unicode.Scalar($0) }))
        case 16:
            guard chars.count % 2 == 0 else { return nil }
            let array = Array(chars)
            let units = stride(from: 0, to: array.count, by: 2).map { UInt16(array[$0]) << 8 | UInt16(array[$0 + 1]) }
            return String(decoding: units, as: UTF16.self)
        default: return nil
        }
    }
}

/// One File Identifier Descriptor (ECMA-167 4/14.4): [18] characteristics, [19] L_FI,
/// [20..<36] ICB long_ad (length, LBA at 24, partition at 28), [36..<38] L_IU, then
/// implementation use and the name; padded to a multiple of 4.
struct UDFIdentifier {
    let offset: Int
    let characteristics: UInt8
    let icbBlock: UInt32
    let name: String?

    var isDirectory: Bool { characteristics & 0x02 != 0 }
    var isDeleted: Bool { characteristics & 0x04 != 0 }
    var isParent: Bool { characteristics & 0x08 != 0 }

    /// The FIDs libudf will visit in `bytes` (the directory's blocks), stopping where it stops:
    /// when `length` bytes are consumed or a tag is not a valid FID. Throws when an FID would
    /// make libudf read outside the buffer or lose count of the bytes left.
    static func scan(_ bytes: [UInt8], length: UInt64) throws(MediaError) -> [UDFIdentifier] {
        var result: [UDFIdentifier] = []
        var offset = 0
        var left = length
        while left > 0 {
            // libudf checks the tag (16 bytes) and then reads the fixed part (38 bytes).
            guard offset + 38 <= bytes.count else { throw .corrupt("FID at \(offset) runs past the directory's \(bytes.count) bytes") }
            guard UDF.hasTag(bytes, at: offset, id: UDF.tagFID) else { break }
            let nameLength = Int(bytes[offset + 19])
            let useLength = Int(UDF.le16(bytes, offset + 36))
            let nameStart = offset + 38 + useLength
            // libudf reads the compression byte even for an empty name.
            guard nameStart + max(nameLength, 1) <= bytes.count else {
                throw .corrupt("FID name at \(nameStart) (\(nameLength) bytes) runs past the directory")
            }
            let compression = bytes[nameStart]
            // libudf hands a UTF-16 name of odd or negative length to iconv and may strdup(NULL).
            if compression == 16, nameLength == 0 || (nameLength - 1) % 2 != 0 {
                throw .corrupt("FID at \(offset): UTF-16 name of \(nameLength) bytes")
            }
            let size = 4 * ((38 + useLength + nameLength + 3) / 4)
            guard UInt64(size) <= left else {
                throw .corrupt("FID at \(offset) is \(size) bytes but the directory has \(left) left")
            }
            result.append(UDFIdentifier(offset: offset, characteristics: bytes[offset + 18],
                                        icbBlock: UDF.le32(bytes, offset + 24),
                                        name: nameLength > 0 ? UDF.decodeName(bytes[nameStart..<(nameStart + nameLength)]) : nil))
            left -= UInt64(size)
            offset += size
        }
        return result
    }
}

/// A File Entry or Extended File Entry (ECMA-167 4/14.9, 4/14.17): file type, length and where
/// the bytes are.
struct UDFFileEntry {
    /// ICB tag file type (4/14.6.6): 4 directory, 5 regular file, 12 symbolic link.
    let fileType: UInt8
    let length: UInt64
    let storage: Storage

    enum Storage {
        /// Allocation descriptors, as partition-relative blocks (nil: unrecorded, reads as zeros).
        case extents([(block: UInt32?, length: Int64)])
        /// The data is inside the entry itself (ICB flag 3), for small files.
        case embedded([UInt8])
    }

    /// Layout: [16+18] ICB flags (low 3 bits: 0 short_ad, 1 long_ad, 3 embedded), [56] information
    /// length; FE: [168] L_EA, [172] L_AD, descriptors at 176 + L_EA; EFE: [208], [212], 216 + L_EA.
    init(_ bytes: [UInt8]) throws(MediaError) {
        guard bytes.count >= UDF.blockSize else { throw .shortRead("file entry of \(bytes.count) bytes") }
        let header: Int
        if UDF.hasTag(bytes, at: 0, id: UDF.tagFileEntry) { header = 176 }
        else if UDF.hasTag(bytes, at: 0, id: UDF.tagExtendedFileEntry) { header = 216 }
        else { throw .corrupt("no valid file entry tag") }
        fileType = bytes[27]
        length = UDF.le64(bytes, 56)
        let eaLength = Int(UDF.le32(bytes, header - 8))
        let adLength = Int(UDF.le32(bytes, header - 4))
        guard eaLength <= UDF.blockSize, adLength <= UDF.blockSize, header + eaLength + adLength <= UDF.blockSize else {
            throw .corrupt("file entry descriptors (\(eaLength) + \(adLength) bytes) overrun the block")
        }
        let ads = Array(bytes[(header + eaLength)..<(header + eaLength + adLength)])
        switch bytes[34] & 0x07 {
        case 3:
            guard UInt64(ads.count) >= length else { throw .corrupt("embedded file data shorter than its length \(length)") }
            storage = .embedded(Array(ads.prefix(Int(length))))
        case let kind where kind <= 1:
            // short_ad: length (4), position (4); long_ad: length (4), lb_addr (6), impl use (6).
            // Length bits 30–31: 0 recorded, 1 allocated not recorded, 2 unallocated, 3 continuation.
            let step = kind == 0 ? 8 : 16
            var extents: [(block: UInt32?, length: Int64)] = []
            var covered: UInt64 = 0
            for at in stride(from: 0, to: ads.count - step + 1, by: step) where covered < length {
                let raw = UDF.le32(ads, at)
                let extentLength = Int64(raw & 0x3FFF_FFFF)
                if extentLength == 0 { break }
                switch raw >> 30 {
                case 0: extents.append((UDF.le32(ads, at + 4), extentLength))
                case 3: throw .corrupt("allocation descriptors continue in another extent (not supported)")
                default: extents.append((nil, extentLength))
                }
                covered += UInt64(extentLength)
            }
            guard covered >= length else { throw .corrupt("allocation descriptors cover \(covered) of \(length) bytes") }
            storage = .extents(extents)
        default:
            throw .corrupt("extended allocation descriptors are not supported")
        }
    }
}

/// A UDF file: its extents mapped to image byte offsets (or zeros), or its embedded bytes.
final class UDFFile: MediaFile {
    let entry: MediaEntry
    private let image: SystemFile
    private let pieces: [(fileOffset: Int64, length: Int64, imageOffset: Int64?)]
    private let embedded: [UInt8]?

    init(entry: MediaEntry, image: SystemFile, fileEntry: UDFFileEntry, partitionStart: UInt32) throws(MediaError) {
        self.entry = entry
        self.image = image
        guard fileEntry.length == UInt64(entry.size) else {
            throw .corrupt("\(entry.path): file entry now says \(fileEntry.length) bytes, the walk saw \(entry.size)")
        }
        switch fileEntry.storage {
        case let .embedded(bytes):
            embedded = bytes
            pieces = []
        case let .extents(extents):
            embedded = nil
            var pieces: [(Int64, Int64, Int64?)] = []
            var position: Int64 = 0
            for extent in extents where position < entry.size {
                let length = min(extent.length, entry.size - position)
                var imageOffset: Int64?
                if let block = extent.block {
                    let start = (Int64(partitionStart) + Int64(block)) * Int64(UDF.blockSize)
                    guard start <= image.size, length <= image.size - start else {
                        throw .shortRead("\(entry.path): bytes \(position)..<\(position + length) lie beyond the \(image.size)-byte image")
                    }
                    imageOffset = start
                }
                pieces.append((position, length, imageOffset))
                position += length
            }
            self.pieces = pieces
        }
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(MediaError) -> Int {
        guard offset >= 0 else { throw .corrupt("negative offset \(offset) in \(entry.path)") }
        guard offset < entry.size, buffer.count > 0 else { return 0 }
        let wanted = Int(min(Int64(buffer.count), entry.size - offset))
        if let embedded {
            buffer.copyBytes(from: embedded[Int(offset)..<(Int(offset) + wanted)])
            return wanted
        }
        // Pieces are few and sorted: find the one holding `offset`, read at most to its end.
        guard let piece = pieces.last(where: { $0.fileOffset <= offset }) else { return 0 }
        let inPiece = offset - piece.fileOffset
        let count = Int(min(Int64(wanted), piece.length - inPiece))
        let target = UnsafeMutableRawBufferPointer(rebasing: buffer[..<count])
        guard let imageOffset = piece.imageOffset else {
            target.initializeMemory(as: UInt8.self, repeating: 0)
            return count
        }
        let got = try image.read(at: imageOffset + inPiece, into: target)
        guard got == count else { throw .shortRead("\(entry.path) ended at byte \(offset + Int64(got)) of \(entry.size)") }
        return count
    }
}

/// Follows the descriptors `udf_get_root` will follow, and checks the root File Entry before
/// libudf parses its allocation descriptors (it adds the on-disc L_EA to a pointer unchecked).
enum UDFRootCheck {
    /// AVDP at block 256 (3/10.2): main VDS extent length [16], location [20]. In the VDS,
    /// like libudf with "any partition": the first Partition Descriptor (tag 5, start [188])
    /// and the first Logical Volume Descriptor (tag 6) with 2048-byte blocks [212], whose FSD
    /// long_ad is at [248] (LBA [252]). FSD (tag 256, 4/14.1): root ICB long_ad at [400] (LBA [404]).
    static func check(_ image: SystemFile) throws(MediaError) {
        guard image.size >= 257 * Int64(UDF.blockSize) else { throw .unsupported("too small for a UDF anchor at block 256") }
        let anchor = try block(image, 256)
        guard UDF.hasTag(anchor, at: 0, id: 2) else { throw .unsupported("no UDF anchor volume descriptor at block 256") }
        let first = UDF.le32(anchor, 20)
        let length = UDF.le32(anchor, 16)
        guard length >= 1 else { throw .corrupt("empty UDF volume descriptor sequence") }
        let last = UInt64(first) + UInt64((length - 1) / UInt32(UDF.blockSize))
        var partitionStart: UInt32?, fileSet: UInt32?
        var lba = UInt64(first)
        // libudf stops at the end of the sequence; 64 blocks bound what a hostile length makes us read.
        while lba < last, lba < UInt64(first) + 64, partitionStart == nil || fileSet == nil {
            let descriptor = try block(image, lba)
            if UDF.hasTag(descriptor, at: 0, id: 5), partitionStart == nil {
                partitionStart = UDF.le32(descriptor, 188)
            } else if UDF.hasTag(descriptor, at: 0, id: 6), UDF.le32(descriptor, 212) == UInt32(UDF.blockSize), fileSet == nil {
                fileSet = UDF.le32(descriptor, 252)
            }
            lba += 1
        }
        // Without both, libudf finds no root and returns NULL: nothing unsafe to check.
        guard let partitionStart, let fileSet else { return }
        let fsd = try block(image, UInt64(partitionStart) + UInt64(fileSet))
        guard UDF.hasTag(fsd, at: 0, id: 256) else { return }
        let entry = try block(image, UInt64(partitionStart) + UInt64(UDF.le32(fsd, 404)))
        guard UDF.hasTag(entry, at: 0, id: UDF.tagFileEntry) else { return }
        _ = try UDFFileEntry(entry)
    }

    private static func block(_ image: SystemFile, _ lba: UInt64) throws(MediaError) -> [UInt8] {
        let offset = lba * UInt64(UDF.blockSize)
        guard offset + UInt64(UDF.blockSize) <= UInt64(image.size) else {
            throw .corrupt("UDF descriptor at block \(lba) lies outside the \(image.size)-byte image")
        }
        let bytes = try image.readBytes(at: Int64(offset), count: UDF.blockSize)
        guard bytes.count == UDF.blockSize else { throw .shortRead("UDF descriptor at block \(lba)") }
        return bytes
    }
}
