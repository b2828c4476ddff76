/// Reads the central directory's headers through a bounded window (256 KiB, enough for the
/// largest possible header), never the whole directory at once and never as many headers as
/// the end record claims.
struct ZipCentralDirectory {
    static let window = 256 << 10
    /// Names and extra fields kept for the walk, in total: a directory of 200,000 headers with
    /// 64 KiB names each must not become 13 GB of memory.
    static let maxRetainedBytes = 64 << 20

    var records: [ZipCentralRecord] = []
    /// What was wrong with the directory as a whole; the headers read before it are kept.
    var problems: [MediaError] = []

    /// Reads at most `limit` headers (one more than the walk admits, so the limit still shows).
    init(in archive: SystemFile, at location: ZipDirectoryLocation, limit: Int) {
        let end = Int64(location.offset + location.size)
        var position = Int64(location.offset)
        var windowStart = position
        var window = ZipFields([UInt8]())
        var retained = 0
        do throws(MediaError) {
            while position < end, records.count < limit {
                let within = Int(position - windowStart)
                let fields = within <= window.bytes.count ? ZipFields(window.bytes.dropFirst(within)) : ZipFields([UInt8]())
                if let record = try ZipCentralRecord(fields, at: position) {
                    retained += record.name.count + record.extra.count
                    guard retained <= ZipCentralDirectory.maxRetainedBytes else {
                        throw .limitExceeded("central directory names exceed \(ZipCentralDirectory.maxRetainedBytes) bytes; read stopped at byte \(position)")
                    }
                    records.append(record)
                    position += Int64(record.length)
                    continue
                }
                guard windowStart != position || window.bytes.count < Int(min(Int64(ZipCentralDirectory.window), end - position)) else {
                    throw .corrupt("central directory header at byte \(position) runs past the directory's end at \(end)")
                }
                let count = Int(min(Int64(ZipCentralDirectory.window), end - position))
                let bytes = try archive.readBytes(at: position, count: count)
                guard bytes.count == count else { throw .shortRead("archive ends inside its central directory at byte \(position + Int64(bytes.count))") }
                window = ZipFields(bytes)
                windowStart = position
            }
        } catch {
            problems.append(error)
        }
        if records.count < limit, UInt64(records.count) != location.entries {
            problems.append(.corrupt("the end record claims \(location.entries) entries; the central directory holds \(records.count)"))
        }
    }
}
