import Crypto
import DICOMCore
import Foundation
import POSIX
#if canImport(Glibc)
import Glibc
#endif

/// One audit event. `details` are strings so the log stays plain JSON lines an auditor can read.
public struct AuditEvent: Sendable, Equatable {
    public var type: AuditEventType
    public var actor: String
    public var session: String?
    public var details: [String: String]

    public init(_ type: AuditEventType, actor: String, session: String? = nil, details: [String: String] = [:]) {
        self.type = type; self.actor = actor; self.session = session; self.details = details
    }
}

/// The tamper-evident audit trail (`STATE/audit/audit-NNNNNN.jsonl`). Each line is
/// `<sha256-hex> <json>`: the hash covers the exact JSON bytes, and the JSON carries the sequence
/// number and the previous record's hash, so altering, removing, inserting or reordering any record
/// breaks the chain. Checkpoint records sign the chain's head with Ed25519 (`audit.key`, readable
/// only by the service; auditors verify with `audit.pub`), and `head` holds the last signed
/// position, so cutting records off the end is caught too. Files rotate by size; the chain
/// continues across them. Several processes may append: each append holds an flock.
public final class AuditLog: Sendable {
    public let directory: URL
    private let rotateBytes: Int64
    /// The Ed25519 private key's raw bytes (the key type is not Sendable); nil for a read-only copy.
    private let keyBytes: Data?

    public enum AuditError: Error, CustomStringConvertible {
        case io(String)
        case key(String)

        public var description: String {
            switch self {
            case let .io(what): "audit trail: \(what)"
            case let .key(what): "audit key: \(what)"
            }
        }
    }

    /// Opens for writing (creates the directory and, once, the signing key).
    public init(directory: URL, rotateBytes: Int64 = 16 << 20) throws {
        self.directory = directory
        self.rotateBytes = rotateBytes
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        keyBytes = try AuditLog.signingKey(directory)?.rawRepresentation
    }

    /// Appends events; with `checkpoint`, a signed checkpoint follows them (session end, service stop). Returns the
    /// lines written, without their newlines: a session's lines ending with its checkpoint are a segment anyone
    /// holding `audit.pub` can verify on its own (the portal does, from the session's manifest).
    @discardableResult
    public func append(_ events: [AuditEvent], checkpoint: Bool = false, now: Date = Date()) throws -> [String] {
        guard !events.isEmpty || checkpoint else { return [] }
        let key = try keyBytes.map { try Curve25519.Signing.PrivateKey(rawRepresentation: $0) }
        return try withLock {
            var (file, seq, prev) = try tail()
            var lines: [String] = []
            func add(_ object: [String: Any]) throws {
                var record = object
                record["seq"] = seq + 1
                record["prev"] = prev
                let json = try AuditLog.canonical(record)
                let hash = AuditLog.hex(SHA256.hash(data: Data(json.utf8)))
                lines.append(hash + " " + json)
                seq += 1
                prev = hash
            }
            let time = AuditLog.timestamp(now)
            for event in events {
                var object: [String: Any] = ["type": event.type.rawValue, "actor": event.actor, "time": time, "details": event.details]
                if let session = event.session { object["session"] = session }
                try add(object)
            }
            var signedHead: String?
            if checkpoint, let key {
                let signature = try key.signature(for: Data("\(seq)\n\(prev)".utf8))
                try add(["type": AuditEventType.checkpoint.rawValue, "actor": "kiosk-agent", "time": time,
                         "details": ["signs": prev, "signedSeq": String(seq), "signature": Data(signature).base64EncodedString()]])
                signedHead = "\(seq) \(prev) \(Data(try key.signature(for: Data("head \(seq)\n\(prev)".utf8))).base64EncodedString())\n"
            }
            if let size = try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int64, size >= rotateBytes {
                file = AuditLog.fileURL(directory, index: AuditLog.index(of: file) + 1)
            }
            try AuditLog.appendDurably(lines.map { $0 + "\n" }.joined(), to: file)
            if let signedHead {
                let head = directory.appendingPathComponent("head")
                try Data(signedHead.utf8).write(to: head, options: .atomic)
            }
            return lines
        }
    }

    // MARK: files

    static func fileURL(_ directory: URL, index: Int) -> URL {
        directory.appendingPathComponent(String(format: "audit-%06d.jsonl", index))
    }

    static func index(of file: URL) -> Int {
        Int(file.deletingPathExtension().lastPathComponent.dropFirst("audit-".count)) ?? 1
    }

    static func files(_ directory: URL) -> [URL] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasPrefix("audit-") && $0.hasSuffix(".jsonl") }.sorted()
            .map { directory.appendingPathComponent($0) }
    }

    /// The current file, and the last record's sequence number and hash (0 and "" when empty).
    private func tail() throws -> (URL, Int, String) {
        guard let last = AuditLog.files(directory).last else { return (AuditLog.fileURL(directory, index: 1), 0, "") }
        let data = try Data(contentsOf: last)
        guard let line = data.split(separator: UInt8(ascii: "\n")).last, let text = String(data: Data(line), encoding: .utf8),
              let space = text.firstIndex(of: " "),
              let object = try? JSONSerialization.jsonObject(with: Data(text[text.index(after: space)...].utf8)) as? [String: Any],
              let seq = object["seq"] as? Int else {
            if data.isEmpty { return (last, 0, "") }
            throw AuditError.io("the last record of \(last.lastPathComponent) cannot be read; run kiosk-agent audit verify")
        }
        return (last, seq, String(text[..<space]))
    }

    private func withLock<T>(_ body: () throws -> T) throws -> T {
        let lock: Descriptor
        do { lock = try Descriptor.open(directory.appendingPathComponent(".lock").path, O_RDWR | O_CREAT, permissions: 0o600) } catch {
            throw AuditError.io("cannot open the lock: \(error)")
        }
        guard retryingOnInterrupt({ flock(lock.rawValue, LOCK_EX) }) == 0 else { throw AuditError.io("cannot lock: \(String(cString: strerror(errno)))") }
        defer { flock(lock.rawValue, LOCK_UN) }
        return try body()
    }

    static func appendDurably(_ text: String, to file: URL) throws {
        let log: Descriptor
        do { log = try Descriptor.open(file.path, O_WRONLY | O_CREAT | O_APPEND, permissions: 0o640) } catch {
            throw AuditError.io("cannot open \(file.lastPathComponent): \(error)")
        }
        do { try Array(text.utf8).withUnsafeBytes { bytes in try log.writeAll(bytes) } } catch { throw AuditError.io("write: \(error)") }
        guard fdatasync(log.rawValue) == 0 else { throw AuditError.io("fdatasync: \(String(cString: strerror(errno)))") }
    }

    /// `audit.pub` as written (base64 of the raw Ed25519 public key); nil before the first writer created the key.
    public var publicKeyText: String? {
        (try? String(contentsOf: directory.appendingPathComponent("audit.pub"), encoding: .utf8))
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// The service's signing key (`audit.key`, 0600), created once; `audit.pub` for auditors.
    static func signingKey(_ directory: URL) throws -> Curve25519.Signing.PrivateKey? {
        let path = directory.appendingPathComponent("audit.key")
        if let data = FileManager.default.contents(atPath: path.path) {
            do { return try Curve25519.Signing.PrivateKey(rawRepresentation: data) } catch {
                throw AuditError.key("\(path.path) is not an Ed25519 key")
            }
        }
        guard access(directory.path, W_OK) == 0 else { return nil }     // a reader (an auditor's copy): no signing
        let key = Curve25519.Signing.PrivateKey()
        do {
            let file = try Descriptor.open(path.path, O_WRONLY | O_CREAT | O_EXCL, permissions: 0o600)
            try Array(key.rawRepresentation).withUnsafeBytes { bytes in try file.writeAll(bytes) }
        } catch {
            throw AuditError.key("cannot create \(path.path): \(error)")
        }
        try key.publicKey.rawRepresentation.base64EncodedString().write(to: directory.appendingPathComponent("audit.pub"), atomically: true,
                                                                         encoding: .utf8)
        return key
    }

    /// JSON with sorted keys and no escaped slashes: the same record always gives the same bytes.
    static func canonical(_ object: [String: Any]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.lowercaseHex
    }

    static func timestamp(_ date: Date) -> String {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return format.string(from: date)
    }
}
