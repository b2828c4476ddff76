#if canImport(Glibc)
import Glibc
#endif
import CZlib

/// Raw deflate (ZIP method 8) of one entry, read from the archive in 64 KiB pieces. Memory is
/// zlib's 32 KiB window plus that input buffer, whatever the entry claims; output goes straight
/// into the caller's buffer.
final class Inflater {
    private let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 1)
    private let archive: SystemFile
    /// The compressed bytes in the archive.
    private let data: Range<Int64>
    private var nextInput: Int64
    /// The deflate stream's end marker was reached: nothing more comes out.
    private(set) var finished = false
    /// Bytes produced since the start (or the last `restart`).
    private(set) var produced: Int64 = 0
    private let what: String

    init(archive: SystemFile, data: Range<Int64>, what: String) throws(MediaError) {
        self.archive = archive
        self.data = data
        self.what = what
        nextInput = data.lowerBound
        stream.initialize(to: z_stream())
        // -15: raw deflate with a 32 KiB window, no zlib header (APPNOTE §4.4.5).
        guard inflateInit2_(stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            input.deallocate()
            throw .io(operation: "inflateInit2 for \(what)", errno: ENOMEM)
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        input.deallocate()
    }

    /// Back to the entry's first byte (a read before the current position).
    func restart() {
        inflateReset(stream)
        stream.pointee.avail_in = 0
        nextInput = data.lowerBound
        finished = false
        produced = 0
    }

    /// Inflates into `buffer`; returns the bytes produced, 0 only once the stream has ended.
    func inflate(into buffer: UnsafeMutableRawBufferPointer) throws(MediaError) -> Int {
        guard !finished, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let capacity = min(buffer.count, 1 << 30)  // avail_out is 32 bits
        stream.pointee.next_out = base.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(capacity)
        while true {
            if stream.pointee.avail_in == 0, nextInput < data.upperBound {
                let count = Int(min(Int64(input.count), data.upperBound - nextInput))
                let got = try archive.read(at: nextInput, into: UnsafeMutableRawBufferPointer(rebasing: input[..<count]))
                guard got == count else { throw .shortRead("\(what): the archive ends at byte \(nextInput + Int64(got)) inside the compressed data") }
                nextInput += Int64(got)
                stream.pointee.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_in = uInt(got)
            }
            let status = CZlib.inflate(stream, Z_NO_FLUSH)
            let done = capacity - Int(stream.pointee.avail_out)
            produced += Int64(done)
            switch status {
            case Z_STREAM_END:
                finished = true
                return done
            case Z_OK where done > 0:
                return done
            case Z_OK:
                continue
            case Z_BUF_ERROR where stream.pointee.avail_in == 0 && nextInput == data.upperBound:
                throw .corrupt("\(what): the compressed data ends before the deflate stream does")
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw .corrupt("\(what): invalid deflate data (\(message))")
            }
        }
    }
}

/// CRC-32 (the ZIP one, zlib's) over buffers of any length.
enum ZipCRC {
    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var value = uLong(crc)
        var rest = bytes
        while let base = rest.baseAddress, !rest.isEmpty {
            let count = min(rest.count, 1 << 30)
            value = crc32(value, base.assumingMemoryBound(to: Bytef.self), uInt(count))
            rest = UnsafeRawBufferPointer(rebasing: rest[count...])
        }
        return UInt32(truncatingIfNeeded: value)
    }
}
