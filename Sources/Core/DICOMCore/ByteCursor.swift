/// Buffered sequential access to a `ByteSource`: small reads (element headers) come from a
/// 64 KiB window; large values are read (or skipped) straight from the source.
struct ByteCursor {
    let source: any ByteSource
    let end: Int64
    private(set) var position: Int64
    private var window: [UInt8] = []
    private var windowStart: Int64 = 0

    static let windowSize = 64 << 10

    init(source: any ByteSource, start: Int64 = 0) {
        self.source = source
        end = source.count
        position = start
    }

    var remaining: Int64 { end - position }

    mutating func seek(to offset: Int64) { position = offset }

    /// `count` (≤ 64 KiB) bytes at the current position, advancing past them.
    mutating func take(_ count: Int) throws(DICOMParseError) -> ArraySlice<UInt8> {
        let bytes = try peek(count)
        position += Int64(count)
        return bytes
    }

    mutating func peek(_ count: Int) throws(DICOMParseError) -> ArraySlice<UInt8> {
        guard Int64(count) <= remaining else {
            throw DICOMParseError(.truncated, at: position, "file ends \(remaining) byte(s) into a \(count)-byte field")
        }
        let startInWindow = position - windowStart
        if startInWindow < 0 || startInWindow + Int64(count) > Int64(window.count) {
            let length = Int(min(Int64(max(ByteCursor.windowSize, count)), remaining))
            do { window = try source.read(at: position, count: length) } catch {
                throw DICOMParseError(.source, at: position, "read failed: \(error)")
            }
            windowStart = position
        }
        let start = Int(position - windowStart)
        return window[start..<start + count]
    }

    /// A value of `length` bytes (already checked against `remaining`), advancing past it.
    mutating func value(_ length: Int64, inlineLimit: Int) throws(DICOMParseError) -> ValueBytes {
        let offset = position
        if length > Int64(inlineLimit) {
            position += length
            return .deferred(offset: offset, length: length)
        }
        if length <= Int64(ByteCursor.windowSize) {
            return .inline(Array(try take(Int(length))))
        }
        do {
            let bytes = try source.read(at: position, count: Int(length))
            position += length
            return .inline(bytes)
        } catch {
            throw DICOMParseError(.source, at: position, "read failed: \(error)")
        }
    }
}

/// Integer decoding in either byte order.
extension ArraySlice where Element == UInt8 {
    func u16(_ at: Int, bigEndian: Bool) -> UInt16 {
        let a = UInt16(self[startIndex + at]), b = UInt16(self[startIndex + at + 1])
        return bigEndian ? a << 8 | b : b << 8 | a
    }

    func u32(_ at: Int, bigEndian: Bool) -> UInt32 {
        let a = UInt32(self[startIndex + at]), b = UInt32(self[startIndex + at + 1])
        let c = UInt32(self[startIndex + at + 2]), d = UInt32(self[startIndex + at + 3])
        return bigEndian ? a << 24 | b << 16 | c << 8 | d : d << 24 | c << 16 | b << 8 | a
    }
}
