import PortalProtocol
import Foundation
import POSIX
#if canImport(Glibc)
import Glibc
#endif

/// The audit chain's head, copied now and then to a file outside the database. The chain shows any record altered
/// or removed in the middle, but records removed from its end leave no trace in it; an anchor whose record is gone
/// (or differs) does. Someone who can rewrite the database but not this file cannot hide the cut.
///
/// One line per anchor, appended and synced: `<seq> <hash, hex> <time, ISO 8601>`.
public struct AuditAnchors: Sendable {
    public struct Anchor: Sendable, Equatable {
        public var seq: Int64
        public var hash: Data
        public var at: String

        public init(seq: Int64, hash: Data, at: String) { self.seq = seq; self.hash = hash; self.at = at }
    }

    public let path: String
    /// Lines past this are not read: a file that big is not ours.
    static let maxBytes = 64 << 20

    public init(path: String) { self.path = path }

    /// The longest line an anchor makes (seq, 64 hex digits, an ISO 8601 time), with room to spare.
    static let maxLine = 160

    /// Appends the head and syncs the file (and, when the file is new, its directory).
    public func append(seq: Int64, hash: Data, at date: Date = Date()) throws {
        let existed = FileManager.default.fileExists(atPath: path)
        let file = try Descriptor.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, permissions: 0o600)
        let line = "\(seq) \(Hex.encode(hash)) \(ISO8601DateFormatter().string(from: date))\n"
        try Array(line.utf8).withUnsafeBytes { try file.writeAll($0) }
        try file.sync()
        if !existed { try DurableFile.syncDirectory((path as NSString).deletingLastPathComponent) }
    }

    /// The newest anchor, from the file's tail alone (core asks at every sweep; the file only grows).
    public func last() throws -> Anchor? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try Descriptor.open(path, O_RDONLY | O_CLOEXEC)
        let size = try file.size
        let tail = try file.read(upTo: Int(min(size, Int64(Self.maxLine))), at: max(0, size - Int64(Self.maxLine)))
        let lines = String(decoding: tail, as: UTF8.self).split(separator: "\n")
        guard let line = lines.last else { return nil }
        // A tail shorter than the file may start mid-line; the last line is whole all the same.
        return try Self.anchor(line, path: path, number: nil)
    }

    /// Every anchor, oldest first; none when the file does not exist yet. A line that is not an anchor is an error
    /// naming it: an anchor file that was tampered with must not pass for an empty one.
    public func read() throws -> [Anchor] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let file = try Descriptor.open(path, O_RDONLY | O_CLOEXEC)
        let size = try file.size
        guard size <= Int64(Self.maxBytes) else { throw AuditAnchorError.tooLarge(path) }
        let bytes = try file.read(upTo: Int(size), at: 0)
        var anchors: [Anchor] = []
        for (index, line) in String(decoding: bytes, as: UTF8.self).split(separator: "\n").enumerated() {
            anchors.append(try Self.anchor(line, path: path, number: index + 1))
        }
        return anchors
    }

    /// One line as an anchor; `number` names it in the error (nil: the last line).
    private static func anchor(_ line: Substring, path: String, number: Int?) throws -> Anchor {
        let fields = line.split(separator: " ")
        guard fields.count == 3, let seq = Int64(fields[0]), seq > 0, let hash = Hex.decode(fields[1]), hash.count == 32 else {
            throw AuditAnchorError.malformed(path, line: number)
        }
        return Anchor(seq: seq, hash: hash, at: String(fields[2]))
    }
}

public enum AuditAnchorError: Error, Equatable, CustomStringConvertible {
    /// `line` nil: the file's last line.
    case malformed(String, line: Int?)
    case tooLarge(String)

    public var description: String {
        switch self {
        case .malformed(let path, let line):
            "\(path): \(line.map { "line \($0)" } ?? "the last line") is not an audit anchor (seq, SHA-256 in hex, time)"
        case .tooLarge(let path): "\(path) is larger than \(AuditAnchors.maxBytes >> 20) MiB: not an audit anchor file"
        }
    }
}
