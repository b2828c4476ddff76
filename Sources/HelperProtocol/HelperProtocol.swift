import Foundation
import MediaReader
import Protector
import Sandbox
import SessionReport

/// The framed protocol between the agent and its media helper (issue 7, part 2): one byte of kind,
/// four bytes of length (little endian), the payload. Messages are JSON; file and scan bytes
/// travel in `chunk` frames closed by an `end` frame. Both sides bound every length before
/// allocating: the helper parses hostile media, so the agent treats what it says as untrusted too.
public enum FrameKind: UInt8, Sendable {
    // agent → helper
    case job = 1, proceed = 2, stop = 3, scanResult = 4
    // helper → agent
    case opened = 10, inventory = 11, progress = 12, record = 13, chunk = 14, end = 15, scan = 16, fileSet = 17, done = 18
    case failed = 19, patients = 20
}

public struct Frame: Sendable {
    public let kind: FrameKind
    public let payload: [UInt8]

    public init(kind: FrameKind, payload: [UInt8]) { self.kind = kind; self.payload = payload }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(payload)) } catch {
            throw HelperProtocolError.malformed("\(kind) frame: \(error)")
        }
    }
}

public enum HelperProtocolError: Error, CustomStringConvertible {
    case malformed(String)
    case unexpected(String)
    case io(String, Int32)
    case timeout(Double)

    public var description: String {
        switch self {
        case let .malformed(what): "malformed message from the media helper: \(what)"
        case let .unexpected(what): "unexpected message from the media helper: \(what)"
        case let .io(what, code): "\(what): \(String(cString: strerror(code)))"
        case let .timeout(seconds): "no word from the media helper for \(Int(seconds)) s"
        }
    }
}

/// Chunks of file and scan bytes; JSON messages are far smaller.
public let helperChunkBytes = 1 << 20
/// The largest frame either side accepts (a record with many findings stays far below).
public let helperMaxFrameBytes = 16 << 20

/// Writes frames to a pipe; one frame at a time across threads.
public final class FrameWriter: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()

    public init(fd: Int32) { self.fd = fd }

    public func send(_ kind: FrameKind, _ payload: UnsafeRawBufferPointer) throws {
        try lock.withLock { try unlockedSend(kind, payload) }
    }

    public func send(_ kind: FrameKind, bytes: [UInt8] = []) throws {
        try bytes.withUnsafeBytes { try send(kind, $0) }
    }

    public func send<T: Encodable>(_ kind: FrameKind, _ message: T) throws {
        try send(kind, bytes: Array(try JSONEncoder().encode(message)))
    }

    /// Several frames that must stay together (a record and its bytes), with no other frame between.
    public func together<T>(_ body: (_ send: (FrameKind, UnsafeRawBufferPointer) throws -> Void) throws -> T) throws -> T {
        try lock.withLock { try body { try unlockedSend($0, $1) } }
    }

    private func unlockedSend(_ kind: FrameKind, _ payload: UnsafeRawBufferPointer) throws {
        var header = [kind.rawValue, 0, 0, 0, 0]
        let length = UInt32(payload.count)
        for shift in 0..<4 { header[1 + shift] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(shift))) }
        try header.withUnsafeBytes { try writeAll($0) }
        try writeAll(payload)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw HelperProtocolError.io("writing to the pipe", errno)
            }
            done += n
        }
    }
}

/// Reads frames from a pipe, waiting at most `timeout` seconds for each (nil: forever). One
/// thread reads it at a time (the helper's listener, the agent's session).
public final class FrameReader: @unchecked Sendable {
    private let fd: Int32
    /// The frame being read: a timeout keeps it, so the next call goes on with it.
    private var header = [UInt8](repeating: 0, count: 5)
    private var headerFilled = 0
    private var payload: [UInt8]?
    private var payloadFilled = 0
    /// Bytes allocated ahead of what has arrived: one chunk frame and its header room.
    static let step = helperChunkBytes + (64 << 10)

    public init(fd: Int32) { self.fd = fd }

    /// The next frame, or nil at the end of the stream.
    public func next(timeout: Double? = nil) throws -> Frame? {
        while headerFilled < 5 {
            let n = try header.withUnsafeMutableBytes { try readSome(into: $0, from: headerFilled, timeout: timeout) }
            if n == 0 {
                if headerFilled == 0 { return nil }
                throw HelperProtocolError.malformed("the stream ended inside a frame")
            }
            headerFilled += n
        }
        guard let kind = FrameKind(rawValue: header[0]) else { throw HelperProtocolError.malformed("unknown frame kind \(header[0])") }
        var length = 0
        for shift in 0..<4 { length |= Int(header[1 + shift]) << (8 * shift) }
        guard length <= helperMaxFrameBytes else { throw HelperProtocolError.malformed("a \(length)-byte frame") }
        // The length is only a claim: at most `FrameReader.step` bytes are allocated ahead of the
        // bytes actually received (every chunk frame fits in one step, so they are read in place).
        while payloadFilled < length {
            let target = min(length, payloadFilled + FrameReader.step)
            if (payload?.count ?? 0) < target {
                let old = payload, kept = payloadFilled
                // Filled by read(2) below, never zeroed first; what was read so far is kept.
                payload = [UInt8](unsafeUninitializedCapacity: target) { buffer, count in
                    if let old, kept > 0 {
                        old.withUnsafeBufferPointer { buffer.baseAddress!.initialize(from: $0.baseAddress!, count: kept) }
                    }
                    count = target
                }
            }
            let n = try payload!.withUnsafeMutableBytes {
                try readSome(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<target]), from: payloadFilled, timeout: timeout)
            }
            if n == 0 { throw HelperProtocolError.malformed("the stream ended inside a frame") }
            payloadFilled += n
        }
        if payload == nil { payload = [] }
        let frame = Frame(kind: kind, payload: payload!)
        payload = nil
        payloadFilled = 0
        headerFilled = 0
        return frame
    }

    private func readSome(into buffer: UnsafeMutableRawBufferPointer, from offset: Int, timeout: Double?) throws -> Int {
        while true {
            if let timeout {
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, Int32(min(timeout * 1000, Double(Int32.max))))
                if ready < 0 { if errno == EINTR { continue }; throw HelperProtocolError.io("waiting for the media helper", errno) }
                if ready == 0 { throw HelperProtocolError.timeout(timeout) }
            }
            let n = read(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 { if errno == EINTR { continue }; throw HelperProtocolError.io("reading from the pipe", errno) }
            return n
        }
    }
}

// MARK: messages

/// Everything the helper needs, sent once before it enters its sandbox.
public struct HelperJob: Codable, Sendable {
    /// `ingest`: protect every file; `patients`: only list the patients (the operator's confirmation).
    public enum Mode: String, Codable, Sendable { case ingest, patients }
    public var mode = Mode.ingest
    public var sourceName: String
    public var scratch: String
    public var walk: WalkLimits
    public var inMemoryFileLimit: Int64
    public var workers: Int
    public var policy: ProtectorPolicy
    /// Names of the agent's engines, in order; the helper's scans go back to the agent by index.
    public var engines: [String]
    public var resources: ResourceLimits

    public init(mode: Mode = Mode.ingest, sourceName: String, scratch: String, walk: WalkLimits, inMemoryFileLimit: Int64, workers: Int, policy: ProtectorPolicy, engines: [String], resources: ResourceLimits) {
        self.mode = mode
        self.sourceName = sourceName
        self.scratch = scratch
        self.walk = walk
        self.inMemoryFileLimit = inMemoryFileLimit
        self.workers = workers
        self.policy = policy
        self.engines = engines
        self.resources = resources
    }
}

public struct HelperOpened: Codable, Sendable {
    public var filesystem: String
    public var notes: [String]

    public init(filesystem: String, notes: [String]) {
        self.filesystem = filesystem
        self.notes = notes
    }
}

public struct HelperInventory: Codable, Sendable {
    public var label: String
    public var findings: [Finding]
    public var files: Int
    public var bytes: Int64

    public init(label: String, findings: [Finding], files: Int, bytes: Int64) {
        self.label = label
        self.findings = findings
        self.files = files
        self.bytes = bytes
    }
}

public struct HelperProgress: Codable, Sendable {
    public var index: Int
    public var path: String
    public var size: Int64

    public init(index: Int, path: String, size: Int64) {
        self.index = index
        self.path = path
        self.size = size
    }
}

/// One file's outcome. `body` says what `chunk` frames follow: the rebuilt file, the original
/// (for quarantine), or nothing.
public struct HelperRecord: Codable, Sendable {
    public enum Body: String, Codable, Sendable { case none, rebuilt, original }
    public var index: Int
    public var record: FileRecord
    public var summary: InstanceSummary?
    public var mediaSummary: InstanceSummary?
    public var body: Body

    public init(index: Int, record: FileRecord, summary: InstanceSummary? = nil, mediaSummary: InstanceSummary? = nil, body: Body) {
        self.index = index
        self.record = record
        self.summary = summary
        self.mediaSummary = mediaSummary
        self.body = body
    }
}

/// Closes a run of chunks; `error` when the bytes stopped early (the rebuild failed, the media
/// could not be read).
public struct HelperEnd: Codable, Sendable {
    public var error: String?

    public init(error: String? = nil) {
        self.error = error
    }
}

public struct HelperScan: Codable, Sendable {
    public var id: Int
    public var engine: Int
    public var label: String
    public var count: Int64

    public init(id: Int, engine: Int, label: String, count: Int64) {
        self.id = id
        self.engine = engine
        self.label = label
        self.count = count
    }
}

public struct HelperScanResult: Codable, Sendable {
    public var id: Int
    public var names: [String]?
    public var error: String?

    public init(id: Int, names: [String]? = nil, error: String? = nil) {
        self.id = id
        self.names = names
        self.error = error
    }
}

public struct HelperFileSet: Codable, Sendable {
    public var findings: [Finding]
    /// Files no DICOMDIR lists, by index.
    public var unlisted: [Int]

    public init(findings: [Finding], unlisted: [Int]) {
        self.findings = findings
        self.unlisted = unlisted
    }
}

public struct HelperFailure: Codable, Sendable {
    public var finding: Finding

    public init(finding: Finding) {
        self.finding = finding
    }
}
