/// Random access to the bytes of one file. The reader never asks for more than it has checked
/// exists, and never assumes a read returns more than it asked for.
public protocol ByteSource {
    var count: Int64 { get }
    /// Exactly `count` bytes at `offset`, or an error. Callers keep `offset + count` ≤ `self.count`.
    func read(at offset: Int64, count: Int) throws -> [UInt8]
}

/// A file already in memory.
public struct InMemoryByteSource: ByteSource, Sendable {
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
