import Foundation
import MediaReader
import POSIX
import Protector
import Sandbox
import SessionReport

/// The framed protocol between the agent and its media helper (issue 7, part 2): one byte of kind,
/// four bytes of length (little endian), the payload. Messages are JSON, except the small ones
/// that go with every file and scan (`CompactMessage`); file and scan bytes travel in `chunk`
/// frames closed by an `end` frame, or are named as a range of the medium (`HelperScan.medium`).
/// Both sides bound every length before allocating: the helper parses hostile media, so the agent treats what it says as untrusted too.
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
    /// A chunk read straight into the caller's memory (`FrameReader.next(timeout:chunkInto:)`):
    /// how many bytes were placed there; the payload is then empty.
    public let placed: Int?

    public init(kind: FrameKind, payload: [UInt8], placed: Int? = nil) { self.kind = kind; self.payload = payload; self.placed = placed }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if let compact = type as? any CompactMessage.Type {
            var reader = CompactReader(payload)
            do {
                let message = try compact.init(reading: &reader)
                guard reader.atEnd else { throw CompactReader.Malformed(reason: "bytes after the message") }
                return message as! T
            } catch {
                throw HelperProtocolError.malformed("\(kind) frame: \(error)")
            }
        }
        do { return try JSONDecoder().decode(type, from: Data(payload)) } catch {
            throw HelperProtocolError.malformed("\(kind) frame: \(error)")
        }
    }
}

/// The small messages that go with every file and every scan (progress, scan requests and their
/// answers, the end of a run of chunks) in a few bytes each instead of JSON: thousands of them per
/// disc, and encoding and decoding JSON cost more than the rest of their handling. Little-endian
/// integers and length-prefixed UTF-8; every length is checked against what is left.
public protocol CompactMessage: Sendable {
    init(reading: inout CompactReader) throws
    func write(to: inout [UInt8])
}

extension CompactMessage {
    public var compact: [UInt8] {
        var bytes: [UInt8] = []
        write(to: &bytes)
        return bytes
    }
}

public struct CompactReader {
    public struct Malformed: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    private let bytes: [UInt8]
    private var position = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var atEnd: Bool { position == bytes.count }

    public mutating func integer() throws -> Int64 {
        guard bytes.count - position >= 8 else { throw Malformed(reason: "ends inside a number") }
        var value: UInt64 = 0
        for shift in 0..<8 { value |= UInt64(bytes[position + shift]) << (8 * UInt64(shift)) }
        position += 8
        return Int64(bitPattern: value)
    }

    public mutating func int() throws -> Int {
        let value = try integer()
        guard let small = Int(exactly: value) else { throw Malformed(reason: "a number out of range") }
        return small
    }

    public mutating func string() throws -> String {
        let count = try integer()
        guard count >= 0, count <= Int64(bytes.count - position) else { throw Malformed(reason: "a text of \(count) bytes") }
        defer { position += Int(count) }
        return String(decoding: bytes[position..<(position + Int(count))], as: UTF8.self)
    }

    /// A text, or none (a flag byte first).
    public mutating func optionalString() throws -> String? {
        try flag() ? try string() : nil
    }

    public mutating func flag() throws -> Bool {
        guard position < bytes.count else { throw Malformed(reason: "ends inside a flag") }
        defer { position += 1 }
        switch bytes[position] {
        case 0: return false
        case 1: return true
        default: throw Malformed(reason: "a flag of \(bytes[position])")
        }
    }
}

extension Array where Element == UInt8 {
    public mutating func appendCompact(_ value: Int64) {
        for shift in 0..<8 { append(UInt8(truncatingIfNeeded: UInt64(bitPattern: value) >> (8 * UInt64(shift)))) }
    }

    public mutating func appendCompact(_ text: String) {
        appendCompact(Int64(text.utf8.count))
        append(contentsOf: text.utf8)
    }

    public mutating func appendCompact(_ text: String?) {
        append(text == nil ? 0 : 1)
        if let text { appendCompact(text) }
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

/// Writes frames to a pipe; one frame at a time across threads. The caller owns the descriptor.
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
        if let compact = message as? any CompactMessage { return try send(kind, bytes: compact.compact) }
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
        // Header and payload in one system call (and one wake-up of the reader) where the pipe takes both.
        let written = header.withUnsafeBytes { head -> Int in
            var pieces = [iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count),
                          iovec(iov_base: UnsafeMutableRawPointer(mutating: payload.baseAddress), iov_len: payload.count)]
            return retryingOnInterrupt { writev(fd, &pieces, payload.count > 0 ? 2 : 1) }
        }
        guard written >= 0 else { throw HelperProtocolError.io("writing to the pipe", errno) }
        if written < header.count {
            try header.withUnsafeBytes { try writeAll(UnsafeRawBufferPointer(rebasing: $0[written...])) }
            try writeAll(payload)
        } else if written - header.count < payload.count {
            try writeAll(UnsafeRawBufferPointer(rebasing: payload[(written - header.count)...]))
        }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = retryingOnInterrupt { write(fd, bytes.baseAddress! + done, bytes.count - done) }
            guard n >= 0 else { throw HelperProtocolError.io("writing to the pipe", errno) }
            done += n
        }
    }
}

/// Reads frames from a pipe, waiting at most `timeout` seconds for each (nil: forever). One
/// thread reads it at a time (the helper's listener, the agent's session). The caller owns the descriptor.
public final class FrameReader: @unchecked Sendable {
    private let fd: Int32
    /// The frame being read: a timeout keeps it, so the next call goes on with it.
    private var header = [UInt8](repeating: 0, count: 5)
    private var headerFilled = 0
    private var payload: [UInt8]?
    private var payloadFilled = 0
    /// Bytes allocated ahead of what has arrived: one chunk frame and its header room.
    static let step = helperChunkBytes + (64 << 10)

    /// Bytes of a chunk read into the caller's memory so far (a timeout keeps them).
    private var placedFilled = 0

    public init(fd: Int32) { self.fd = fd }

    /// The next frame, or nil at the end of the stream.
    public func next(timeout: Double? = nil) throws -> Frame? { try next(timeout: timeout, chunkInto: nil) }

    /// Like `next(timeout:)`; a chunk frame that fits `room` is read straight into it (the scan
    /// bytes the agent hands its scanner go from the pipe into their memfd, copied once).
    public func next(timeout: Double?, chunkInto room: UnsafeMutableRawBufferPointer?) throws -> Frame? {
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
        if let room, kind == .chunk, length <= room.count, payloadFilled == 0 {
            while placedFilled < length {
                let n = try readSome(into: UnsafeMutableRawBufferPointer(rebasing: room[0..<length]), from: placedFilled, timeout: timeout)
                if n == 0 { throw HelperProtocolError.malformed("the stream ended inside a frame") }
                placedFilled += n
            }
            placedFilled = 0
            headerFilled = 0
            return Frame(kind: kind, payload: [], placed: length)
        }
        guard placedFilled == 0 else { throw HelperProtocolError.malformed("a chunk read in two places") }
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
        if let timeout {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = retryingOnInterrupt { poll(&descriptor, 1, Int32(min(timeout * 1000, Double(Int32.max)))) }
            if ready < 0 { throw HelperProtocolError.io("waiting for the media helper", errno) }
            if ready == 0 { throw HelperProtocolError.timeout(timeout) }
        }
        let n = retryingOnInterrupt { read(fd, buffer.baseAddress! + offset, buffer.count - offset) }
        if n < 0 { throw HelperProtocolError.io("reading from the pipe", errno) }
        return n
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
    /// The agent reads ranges of the medium itself for scans (`HelperScan.medium`): only for a medium
    /// that gives the same bytes on every read (an image file, an optical disc), never a USB device.
    public var mediumScans: Bool?
    /// `inspect` rather than `ingest`: every part of every file is listed, a DICOMDIR keeps the
    /// verdict of its own protection, non-DICOM files are described in `inspect`'s words, and the
    /// file set is not checked against the DICOMDIR. Optional, so a job without it decodes.
    public var inspect: Bool?
    /// The medium is one regular file to read as it is (an `inspect` argument), never probed as an
    /// image: the helper gets no access beyond it.
    public var oneFile: Bool?

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

public struct HelperProgress: Codable, Sendable, CompactMessage {
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
    /// Every slice of a series has the same findings and part list: each distinct list crosses the
    /// pipe once. With the list present, this number names it for later records; with the list
    /// left out (`record.parts` nil, `record.findings` empty), the record has the list named so earlier.
    public var partsList: Int?
    public var findingsList: Int?

    public init(index: Int, record: FileRecord, summary: InstanceSummary? = nil, mediaSummary: InstanceSummary? = nil, body: Body) {
        self.index = index
        self.record = record
        self.summary = summary
        self.mediaSummary = mediaSummary
        self.body = body
    }
}

/// The receiving side of `HelperRecord.partsList` and `findingsList`: lists by number, in the
/// order the records came.
public struct RepeatedListsReceived: Sendable {
    private var parts: [Int: [PartRecord]] = [:]
    private var findings: [Int: [Finding]] = [:]

    public init() {}

    /// The record with its lists filled in; throws when it names a list never sent.
    public mutating func resolve(_ message: HelperRecord) throws -> HelperRecord {
        var message = message
        if let number = message.partsList {
            if let list = message.record.parts { parts[number] = list } else {
                guard let list = parts[number] else { throw HelperProtocolError.malformed("a record naming part list \(number), never sent") }
                message.record.parts = list
            }
        }
        if let number = message.findingsList {
            if !message.record.findings.isEmpty { findings[number] = message.record.findings } else {
                guard let list = findings[number] else { throw HelperProtocolError.malformed("a record naming finding list \(number), never sent") }
                message.record.findings = list
            }
        }
        message.partsList = nil
        message.findingsList = nil
        return message
    }
}

/// The sending side: numbers each distinct list, and says which record must carry it (the first
/// to go out through the pipe, decided while holding it).
public final class RepeatedListsSent: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [[PartRecord]: Int] = [:]
    private var findings: [[Finding]: Int] = [:]
    private var sent = Set<Int>()
    private var count = 0

    /// How many distinct lists are remembered; beyond it, lists are simply sent in full.
    public static let limit = 4096

    public init() {}

    /// Numbers for the record's lists (nil: not worth naming).
    public func numbers(for record: FileRecord) -> (parts: Int?, findings: Int?) {
        lock.withLock {
            func number<T: Hashable>(_ list: T, in table: inout [T: Int], count: inout Int) -> Int? {
                if let known = table[list] { return known }
                guard count < RepeatedListsSent.limit else { return nil }
                table[list] = count
                count += 1
                return count - 1
            }
            let partsNumber = record.parts.flatMap { $0.isEmpty ? nil : number($0, in: &parts, count: &count) }
            let findingsNumber = record.findings.isEmpty ? nil : number(record.findings, in: &findings, count: &count)
            return (partsNumber, findingsNumber)
        }
    }

    /// Whether the list is going out for the first time (call with the pipe held, once per record).
    public func firstSending(_ number: Int) -> Bool {
        lock.withLock { sent.insert(number).inserted }
    }
}

/// The patients on a medium, for the operator to confirm before anything is imported (the job's
/// `patients` mode): one entry per patient, with the number of their studies.
public struct HelperPatients: Codable, Sendable, Equatable {
    public struct Patient: Codable, Sendable, Equatable {
        public var id: String
        public var name: String
        public var birthDate: String
        public var studies: Int

        public init(id: String, name: String, birthDate: String, studies: Int) {
            self.id = id
            self.name = name
            self.birthDate = birthDate
            self.studies = studies
        }
    }

    public var patients: [Patient]
    public var dicomFiles: Int
    public var bytes: Int64

    public init(patients: [Patient], dicomFiles: Int, bytes: Int64) {
        self.patients = patients
        self.dicomFiles = dicomFiles
        self.bytes = bytes
    }
}

/// Closes a run of chunks; `error` when the bytes stopped early (the rebuild failed, the media
/// could not be read).
public struct HelperEnd: Codable, Sendable, CompactMessage {
    public var error: String?

    public init(error: String? = nil) {
        self.error = error
    }
}

public struct HelperScan: Codable, Sendable, CompactMessage {
    public var id: Int
    public var engine: Int
    public var label: String
    public var count: Int64
    /// Where on the medium the `count` bytes to scan start, when the agent is to read them itself
    /// (no chunks follow); nil when they follow as chunks.
    public var medium: Int64?
    /// Every engine to ask, by number (the content crosses the pipe once for all of them); nil:
    /// `engine` alone. The answer then carries one outcome per engine (`HelperScanResult.outcomes`).
    public var engines: [Int]?

    public init(id: Int, engine: Int, label: String, count: Int64, medium: Int64? = nil, engines: [Int]? = nil) {
        self.id = id
        self.engine = engine
        self.label = label
        self.count = count
        self.medium = medium
        self.engines = engines
    }

    /// The engines asked, in order.
    public var asked: [Int] { engines ?? [engine] }
}

/// One engine's answer to a joint scan: the names it found (empty: clean), or why it gave none.
public struct EngineOutcome: Codable, Sendable, Equatable {
    public var names: [String]?
    public var error: String?

    public init(names: [String]? = nil, error: String? = nil) {
        self.names = names
        self.error = error
    }

    public init(_ result: Result<[String], any Error>) {
        switch result {
        case let .success(names): self.init(names: names)
        case let .failure(error): self.init(error: "\(error)")
        }
    }

    public init(reading reader: inout CompactReader) throws {
        var names: [String]?
        if try reader.flag() {
            let count = try reader.int()
            guard (0...HelperScanResult.maxNames).contains(count) else { throw CompactReader.Malformed(reason: "\(count) names") }
            names = try (0..<count).map { _ in try reader.string() }
        }
        self.init(names: names, error: try reader.optionalString())
    }

    public func write(to bytes: inout [UInt8]) {
        bytes.append(names == nil ? 0 : 1)
        if let names {
            bytes.appendCompact(Int64(names.count))
            for name in names { bytes.appendCompact(name) }
        }
        bytes.appendCompact(error)
    }
}

public struct HelperScanResult: Codable, Sendable, CompactMessage {
    public var id: Int
    public var names: [String]?
    public var error: String?
    /// One per engine of a joint request (`HelperScan.engines`), in its order.
    public var outcomes: [EngineOutcome]?

    public init(id: Int, names: [String]? = nil, error: String? = nil, outcomes: [EngineOutcome]? = nil) {
        self.id = id
        self.names = names
        self.error = error
        self.outcomes = outcomes
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

extension HelperProgress {
    public init(reading reader: inout CompactReader) throws {
        self.init(index: try reader.int(), path: try reader.string(), size: try reader.integer())
    }

    public func write(to bytes: inout [UInt8]) {
        bytes.appendCompact(Int64(index))
        bytes.appendCompact(path)
        bytes.appendCompact(size)
    }
}

extension HelperEnd {
    public init(reading reader: inout CompactReader) throws {
        self.init(error: try reader.optionalString())
    }

    public func write(to bytes: inout [UInt8]) { bytes.appendCompact(error) }
}

extension HelperScan {
    public init(reading reader: inout CompactReader) throws {
        self.init(id: try reader.int(), engine: try reader.int(), label: try reader.string(), count: try reader.integer(),
                  medium: try reader.flag() ? try reader.integer() : nil)
        // Added later: a request without it names `engine` alone; written only when present.
        if !reader.atEnd {
            guard try reader.flag() else { throw CompactReader.Malformed(reason: "an empty engine list") }
            let count = try reader.int()
            guard (1...HelperScan.maxEngines).contains(count) else { throw CompactReader.Malformed(reason: "\(count) engines") }
            engines = try (0..<count).map { _ in try reader.int() }
        }
    }

    /// More engines than any configuration has.
    public static let maxEngines = 16

    public func write(to bytes: inout [UInt8]) {
        bytes.appendCompact(Int64(id))
        bytes.appendCompact(Int64(engine))
        bytes.appendCompact(label)
        bytes.appendCompact(count)
        bytes.append(medium == nil ? 0 : 1)
        if let medium { bytes.appendCompact(medium) }
        if let engines {
            bytes.append(1)
            bytes.appendCompact(Int64(engines.count))
            for engine in engines { bytes.appendCompact(Int64(engine)) }
        }
    }
}

extension HelperScanResult {
    /// At most this many names in one answer (an engine reports a handful).
    static let maxNames = 4096

    public init(reading reader: inout CompactReader) throws {
        let id = try reader.int()
        var names: [String]?
        if try reader.flag() {
            let count = try reader.int()
            guard (0...HelperScanResult.maxNames).contains(count) else { throw CompactReader.Malformed(reason: "\(count) names") }
            names = try (0..<count).map { _ in try reader.string() }
        }
        self.init(id: id, names: names, error: try reader.optionalString())
        if !reader.atEnd {
            guard try reader.flag() else { throw CompactReader.Malformed(reason: "an empty outcome list") }
            let count = try reader.int()
            guard (0...HelperScan.maxEngines).contains(count) else { throw CompactReader.Malformed(reason: "\(count) outcomes") }
            outcomes = try (0..<count).map { _ in try EngineOutcome(reading: &reader) }
        }
    }

    public func write(to bytes: inout [UInt8]) {
        bytes.appendCompact(Int64(id))
        bytes.append(names == nil ? 0 : 1)
        if let names {
            bytes.appendCompact(Int64(names.count))
            for name in names { bytes.appendCompact(name) }
        }
        bytes.appendCompact(error)
        if let outcomes {
            bytes.append(1)
            bytes.appendCompact(Int64(outcomes.count))
            for outcome in outcomes { outcome.write(to: &bytes) }
        }
    }
}
