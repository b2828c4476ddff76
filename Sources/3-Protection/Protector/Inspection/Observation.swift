import DICOMCore
import SessionReport

/// A finding about one part, and what the rebuild must do about it.
public struct Observation: Sendable, Equatable {
    public enum Remedy: Sendable, Equatable {
        /// Reported only: the rebuild corrects it by construction, or it is informational.
        case none
        /// The rebuild replaces this part by construction (preamble zeroed, bytes after the data
        /// set left behind): nothing to decide, but the file was neutralised.
        case replacedByRebuild
        /// Leave the part's element out of the rebuilt file, if the file stays valid without it;
        /// else the file is rejected.
        case removePart
        /// Leave this element out, wherever it is in the tree (same rule as `removePart`).
        case removeElement(ElementPath)
        /// Cut the element's value to this many bytes (excess pixel or overlay data).
        case truncate(ElementPath, to: Int64)
        /// Replace the Basic Offset Table with an empty one (it is optional, PS3.5 A.4).
        case emptyOffsetTable(ElementPath)
        /// Keep only each frame's codestream of this encapsulated Pixel Data: fragments cut short or
        /// left out, the Basic Offset Table rewritten to match.
        case cutCodestreams(ElementPath, CodestreamCut)
        /// Nothing of this file may be delivered.
        case reject
        /// The instance is left out of delivery by policy, without quarantine (verdict `discarded`).
        case leaveOut
    }

    public let finding: Finding
    /// Index into the file's parts; nil when about the file as a whole.
    public let part: Int?
    public let remedy: Remedy

    public init(_ finding: Finding, part: Int? = nil, remedy: Remedy = .none) {
        self.finding = finding; self.part = part; self.remedy = remedy
    }
}

/// Where each frame's codestream really ends (see `CodestreamEnd`): what the rebuild keeps.
public struct CodestreamCut: Sendable, Equatable {
    /// Fragments (by index among the fragments) that keep only their first bytes: the new length.
    public var truncated: [Int: Int64] = [:]
    /// Fragments left out whole: they lie after their frame's codestream ended.
    public var dropped: Set<Int> = []
    /// The first fragment of each frame, to rewrite a non-empty Basic Offset Table.
    public var frameStarts: [Int] = []
    /// The parts holding the bytes that go (each scanned on its own), and the narrowed fragments.
    public var cutParts: Set<Int> = []
    public var narrowedParts: Set<Int> = []
}

/// Reads part bytes from the file's source: inline values directly, deferred ones by range.
public struct ValueReader {
    public let source: any ByteSource

    public init(_ source: any ByteSource) { self.source = source }

    /// At most `count` bytes from the start of `value`; empty when the source fails (the
    /// engines, which read the whole part, report that failure).
    public func head(_ value: ValueBytes, _ count: Int) -> [UInt8] {
        switch value {
        case let .inline(bytes): return Array(bytes.prefix(count))
        case let .deferred(offset, length):
            return (try? source.read(at: offset, count: Int(min(Int64(count), length)))) ?? []
        }
    }
}

extension ValueReader {
    /// At most `count` bytes of `value` from `offset` on; empty past its end or when the source fails.
    public func bytes(_ value: ValueBytes, at offset: Int64, count: Int) -> [UInt8] {
        guard offset >= 0, offset < value.length, count > 0 else { return [] }
        let available = Int(min(Int64(count), value.length - offset))
        switch value {
        case let .inline(bytes): return Array(bytes[Int(offset)..<Int(offset) + available])
        case let .deferred(start, _): return (try? source.read(at: start + offset, count: available)) ?? []
        }
    }
}
