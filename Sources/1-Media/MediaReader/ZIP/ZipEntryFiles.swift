/// Where an admitted entry's data lies, checked against its local header during the walk.
struct ZipEntryData {
    let method: UInt16
    let crc: UInt32
    /// Uncompressed size, as declared (and admitted by the walk's limits).
    let size: Int64
    /// The entry's data (compressed bytes for deflate) in the archive.
    let range: Range<Int64>
    /// All the archive bytes the entry takes: local header, data, data descriptor.
    let span: Range<Int64>
}

/// A stored (method 0) entry: one range of the archive, read by `pread`. Its CRC-32 is checked
/// when a read reaches the last byte (bytes not yet seen in order are read then), so the whole
/// file cannot be read through here without the check; whoever reads `mediumRange` from its own
/// descriptor gets the bytes unchecked (a wrong CRC means damage, not different content).
final class StoredZipFile: MediaFile {
    let entry: MediaEntry
    private let archive: SystemFile
    private let data: ZipEntryData
    private let isMedium: Bool
    private var crc: UInt32 = 0
    /// Bytes from the start already in `crc`.
    private var checked: Int64 = 0

    var mediumRange: Range<Int64>? { isMedium ? data.range : nil }

    init(entry: MediaEntry, archive: SystemFile, data: ZipEntryData, isMedium: Bool) {
        self.entry = entry; self.archive = archive; self.data = data; self.isMedium = isMedium
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(MediaError) -> Int {
        guard offset >= 0 else { throw .corrupt("negative offset \(offset) in \(entry.path)") }
        guard offset < entry.size, buffer.count > 0 else { return 0 }
        let wanted = Int(min(Int64(buffer.count), entry.size - offset))
        let got = try archive.read(at: data.range.lowerBound + offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<wanted]))
        guard got == wanted else { throw .shortRead("\(entry.path) ended at byte \(offset + Int64(got)) of \(entry.size)") }
        if checked < entry.size, offset <= checked, checked < offset + Int64(got) {
            crc = ZipCRC.update(crc, UnsafeRawBufferPointer(rebasing: buffer[Int(checked - offset) ..< got]))
            checked = offset + Int64(got)
        }
        if offset + Int64(got) == entry.size { try verify() }
        return got
    }

    private func verify() throws(MediaError) {
        if checked < entry.size {
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 1)
            defer { scratch.deallocate() }
            while checked < entry.size {
                let count = Int(min(Int64(scratch.count), entry.size - checked))
                let got = try archive.read(at: data.range.lowerBound + checked, into: UnsafeMutableRawBufferPointer(rebasing: scratch[..<count]))
                guard got == count else { throw .shortRead("\(entry.path) ended at byte \(checked + Int64(got)) of \(entry.size)") }
                crc = ZipCRC.update(crc, UnsafeRawBufferPointer(rebasing: scratch[..<count]))
                checked += Int64(count)
            }
        }
        guard crc == data.crc else { throw .corrupt(ZipCRC.mismatch(entry.path, computed: crc, stored: data.crc)) }
    }
}

/// A deflated (method 8) entry, inflated on demand: forward reads continue the stream, a read
/// before the current position restarts it from the entry's first byte. The stream may produce
/// exactly the declared size — a byte more is a bomb or a lying header and stops the read —
/// and its CRC-32 is checked when the last byte comes out.
final class DeflatedZipFile: MediaFile {
    let entry: MediaEntry
    private let data: ZipEntryData
    private let inflater: Inflater
    private var crc: UInt32 = 0

    init(entry: MediaEntry, archive: SystemFile, data: ZipEntryData) throws(MediaError) {
        self.entry = entry
        self.data = data
        inflater = try Inflater(archive: archive, data: data.range, what: entry.path.description)
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(MediaError) -> Int {
        guard offset >= 0 else { throw .corrupt("negative offset \(offset) in \(entry.path)") }
        guard offset < entry.size, buffer.count > 0 else { return 0 }
        if offset < inflater.produced {
            inflater.restart()
            crc = 0
        }
        if inflater.produced < offset {
            let skip = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 1)
            defer { skip.deallocate() }
            while inflater.produced < offset {
                let count = Int(min(Int64(skip.count), offset - inflater.produced))
                _ = try pull(into: UnsafeMutableRawBufferPointer(rebasing: skip[..<count]))
            }
        }
        // zlib hands out what one input piece gives; the protocol promises a full buffer.
        let wanted = Int(min(Int64(buffer.count), entry.size - offset))
        var done = 0
        while done < wanted { done += try pull(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done ..< wanted])) }
        return done
    }

    /// Inflates at most up to the declared size; at that size, checks that the stream ends there.
    private func pull(into buffer: UnsafeMutableRawBufferPointer) throws(MediaError) -> Int {
        let got = try inflater.inflate(into: buffer)
        guard got > 0 else {
            throw .corrupt("\(entry.path) inflates to \(inflater.produced) bytes, not the \(entry.size) its headers declare")
        }
        crc = ZipCRC.update(crc, UnsafeRawBufferPointer(rebasing: buffer[..<got]))
        if inflater.produced == entry.size {
            var probe: UInt8 = 0
            let more = try withUnsafeMutableBytes(of: &probe) { (byte) throws(MediaError) in try inflater.inflate(into: byte) }
            guard more == 0 else {
                throw .limitExceeded("\(entry.path) inflates past its declared \(entry.size) bytes (a zip bomb or a lying header); read stopped")
            }
            guard crc == data.crc else { throw .corrupt(ZipCRC.mismatch(entry.path, computed: crc, stored: data.crc)) }
        }
        return got
    }
}

extension ZipCRC {
    static func mismatch(_ path: MediaPath, computed: UInt32, stored: UInt32) -> String {
        "\(path): CRC-32 of the content is \(hex(computed)), the archive says \(hex(stored))"
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
