/// Random access to the bytes of one file. The reader never asks for more than it has checked
/// exists, and never assumes a read returns more than it asked for.
public protocol ByteSource {
    var count: Int64 { get }
    /// Exactly `count` bytes at `offset`, or an error. Callers keep `offset + count` ≤ `self.count`.
    func read(at offset: Int64, count: Int) throws -> [UInt8]
    /// Up to `buffer.count` bytes at `offset` into `buffer` (a scanner's own buffer); how many.
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteSource {
    public func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let available = Int(max(0, min(Int64(buffer.count), count - offset)))
        guard available > 0 else { return 0 }
        let bytes = try read(at: offset, count: available)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return bytes.count
    }
}

/// A source whose bytes are all in one array: copied from directly, not read piece by piece.
public protocol InMemoryBytes: ByteSource {
    var bytes: [UInt8] { get }
}

/// A file already in memory.
public struct InMemoryByteSource: InMemoryBytes, Sendable {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var count: Int64 { Int64(bytes.count) }

    public func read(at offset: Int64, count: Int) throws -> [UInt8] {
        guard offset >= 0, count >= 0, offset + Int64(count) <= Int64(bytes.count) else {
            throw SourceRangeError(offset: offset, count: count, size: Int64(bytes.count))
        }
        return Array(bytes[Int(offset)..<Int(offset) + count])
    }
}

struct SourceRangeError: Error, CustomStringConvertible {
    let offset: Int64, count: Int, size: Int64
    var description: String { "read of \(count) bytes at \(offset) beyond the \(size)-byte source" }
}

/// Gathers pieces of any size into a fixed buffer and hands the buffer on each time it is full:
/// pipes and O_DIRECT files take large, whole writes best. The caller hands on what is left at the end.
public struct PieceGatherer {
    public let buffer: UnsafeMutableRawBufferPointer
    public var filled = 0

    public init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    /// The bytes gathered so far.
    public var gathered: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[0..<filled]) }

    /// Copies `piece` in, calling `full` with the whole buffer each time it fills (then empty again).
    public mutating func add(_ piece: UnsafeRawBufferPointer, full: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        var offset = 0
        while offset < piece.count {
            let take = min(piece.count - offset, buffer.count - filled)
            (buffer.baseAddress! + filled).copyMemory(from: piece.baseAddress! + offset, byteCount: take)
            filled += take
            offset += take
            if filled == buffer.count {
                try full(UnsafeRawBufferPointer(buffer))
                filled = 0
            }
        }
    }
}

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal, two digits a byte (digests in reports, archive indexes and the audit
    /// trail; one of these per file, so without a formatter per byte).
    public var lowercaseHex: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
