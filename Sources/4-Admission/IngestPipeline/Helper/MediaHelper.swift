import Crypto
import DICOMCore
import Foundation
import HelperProtocol
import Intake
import MediaReader
import Protector
import Sandbox
import SessionReport

/// The media helper: `kiosk-agent media-helper`, started by the agent for each medium (issue 7,
/// part 2). It reads the job, enters its sandbox, and only then touches the medium: probing
/// (libblkid), ISO 9660/UDF (libcdio), FAT/exFAT, the DICOMDIR and the Protector's disassembly,
/// inspection and rebuild all run here. Engines do not run here: each scan goes back over the
/// pipe to the agent (once for every engine), which hands it to its scanner process. What it finds goes to the agent as frames (`HelperProtocol`); it never writes anything.
///
/// Descriptors: 0 commands from the agent, 1 and 2 the agent's stderr, 3 the medium (read-only),
/// 4 events to the agent.
public enum MediaHelper {
    public static let argument = "media-helper"

    public static func main() -> Never {
        signal(SIGPIPE, SIG_IGN)
        let events = FrameWriter(fd: 4)
        let commands = FrameReader(fd: 0)
        let job: HelperJob
        do {
            guard let frame = try commands.next(), frame.kind == .job else { fail("no job from the agent") }
            job = try frame.decode(HelperJob.self)
        } catch {
            fail("\(error)")
        }
        do {
            _ = try Sandbox.enter(SandboxPolicy(source: 3, scratch: job.scratch, limits: job.resources))
        } catch {
            try? events.send(.failed, HelperFailure(finding: Finding(.mediaSandboxFailed, .critical,
                "the media reader could not enter its sandbox (\(error)); nothing on the medium was read")))
            exit(70)
        }
        let link = ScanLink(events: events)
        let gate = Gate()
        // Created after the sandbox: this thread, like every later one, is inside it.
        let listener = Thread {
            while true {
                do {
                    guard let frame = try commands.next() else { _exit(0) }  // the agent is gone
                    switch frame.kind {
                    case .proceed: gate.open(true)
                    case .stop: gate.open(false)
                    case .scanResult: link.complete(try frame.decode(HelperScanResult.self))
                    default: throw HelperProtocolError.unexpected("\(frame.kind)")
                    }
                } catch {
                    diagnose("\(error)")
                    _exit(65)
                }
            }
        }
        listener.start()
        HelperRun(job: job, events: events, link: link, gate: gate).run()
        exit(0)
    }

    public static func diagnose(_ message: String) {
        FileHandle.standardError.write(Data("kiosk-agent media-helper: \(message)\n".utf8))
    }

    public static func fail(_ message: String) -> Never {
        diagnose(message)
        exit(64)
    }
}

/// The agent's go-ahead after the inventory (it checks its own free space first).
public final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var decision: Bool?

    public func open(_ proceed: Bool) { condition.withLock { decision = proceed; condition.broadcast() } }

    public func wait() -> Bool {
        condition.withLock {
            while decision == nil { condition.wait() }
            return decision!
        }
    }
}

/// Scans go to the agent's engines and wait for their answer.
public final class ScanLink: @unchecked Sendable {
    private let events: FrameWriter
    private let lock = NSLock()
    private var nextID = 0
    /// Each scan waits on its own answer: an answer wakes the one worker that asked, not all of them.
    private var waiting: [Int: Answer] = [:]

    private final class Answer: @unchecked Sendable {
        let condition = NSCondition()
        var result: HelperScanResult?
    }

    public init(events: FrameWriter) { self.events = events }

    public struct ContentUnreadable: Error { let error: any Error }

    /// Asks the agent's engines numbered `engines` about `content`, which crosses the pipe once.
    public func scan(engines: [Int], _ content: ScanContent) -> [Result<[String], any Error>] {
        let result: HelperScanResult
        do { result = try ask(engines: engines, content) } catch {
            return engines.map { _ in .failure(error) }
        }
        guard let outcomes = result.outcomes, outcomes.count == engines.count else {
            let reason = EngineUnavailable(reason: result.error ?? "no answer for every engine")
            return engines.map { _ in .failure(reason) }
        }
        return outcomes.map { outcome in
            if let names = outcome.names { return .success(names) }
            return .failure(EngineUnavailable(reason: outcome.error ?? "no answer"))
        }
    }

    private func ask(engines: [Int], _ content: ScanContent) throws -> HelperScanResult {
        let answer = Answer()
        let id = lock.withLock {
            nextID += 1
            waiting[nextID] = answer
            return nextID
        }
        var medium: Int64?
        if case let .range(source, offset, length) = content.storage { medium = (source as? any OnMedium)?.mediumOffset(offset, length) }
        let request = HelperScan(id: id, engine: engines[0], label: content.label, count: content.count, medium: medium,
                                 engines: engines).compact
        do {
            try events.together { send in
                try request.withUnsafeBytes { try send(.scan, $0) }
                // The agent reads a range of the medium itself.
                if medium != nil { return }
                var failure: String?
                do {
                    try content.forEachChunk(helperChunkBytes) { slice in
                        do { try slice.withUnsafeBytes { try send(.chunk, $0) } } catch { throw ContentUnreadable(error: error) }
                    }
                } catch let error as ContentUnreadable {
                    throw error.error  // the pipe itself failed
                } catch {
                    failure = "\(error)"  // the medium could not be read: the agent answers with an error
                }
                try HelperEnd(error: failure).compact.withUnsafeBytes { try send(.end, $0) }
            }
        } catch {
            lock.withLock { waiting[id] = nil }
            throw error
        }
        return answer.condition.withLock {
            while answer.result == nil { answer.condition.wait() }
            return answer.result!
        }
    }

    /// An answer to a scan nobody is waiting for is dropped.
    public func complete(_ result: HelperScanResult) {
        guard let answer = lock.withLock({ waiting.removeValue(forKey: result.id) }) else { return }
        answer.condition.withLock {
            answer.result = result
            answer.condition.signal()
        }
    }

    public struct EngineUnavailable: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }
}

/// One of the agent's engines as the helper's Protector sees it: asked together with the others
/// (`JointEngine`), so a part crosses the pipe once for all of them.
public struct RemoteEngine: JointEngine {
    public let name: String
    public let index: Int
    public let link: ScanLink

    public var channel: ObjectIdentifier { ObjectIdentifier(link) }

    public func scan(_ content: ScanContent, engines: [Int]) -> [Result<[String], any Error>] { link.scan(engines: engines, content) }
}

/// The helper's side of one session: walk, classify, protect, and stream the results.
public final class HelperRun: @unchecked Sendable {
    public let job: HelperJob
    public let events: FrameWriter
    public let gate: Gate
    public let protector: Protector
    private let lock = NSLock()
    private let lists = RepeatedListsSent()
    private var directories: [(path: MediaPath, directory: DICOMDirectory)] = []
    private var dicomPaths: [String: Int] = [:]

    /// The job is `inspect`'s (`HelperJob.inspect`).
    private var inspecting: Bool { job.inspect == true }

    public init(job: HelperJob, events: FrameWriter, link: ScanLink, gate: Gate) {
        self.job = job
        self.events = events
        self.gate = gate
        protector = Protector(policy: job.policy,
                              engines: job.engines.enumerated().map { RemoteEngine(name: $1, index: $0, link: link) })
    }

    public func run() {
        do {
            try session()
        } catch {
            MediaHelper.diagnose("\(error)")
            exit(65)
        }
    }

    private func session() throws {
        let opened: MediaSource.Opened
        do {
            opened = try MediaSource.open(descriptor: 3, path: job.sourceName, oneFile: job.oneFile == true)
        } catch {
            try events.send(.failed, HelperFailure(finding: error.finding(at: .root)))
            return
        }
        let volume = opened.volume
        try events.send(.opened, HelperOpened(filesystem: volume.filesystem.rawValue, notes: opened.notes))
        let inventory = MediaInventory(volume: volume, limits: job.walk)
        // Files that cannot be read are listed too (after the readable ones), refused.
        try events.send(.inventory, HelperInventory(label: volume.label, findings: inventory.findings,
                                                    files: inventory.files.count + inventory.unreadable.count,
                                                    bytes: inventory.files.reduce(0) { $0 + $1.size }))
        if job.mode == .patients {
            try events.send(.patients, PatientInventory.collect(volume, inventory.files, parsing: job.policy.parsing))
            try events.send(.done)
            return
        }
        guard gate.wait() else { return }
        try process(inventory.files, on: volume)
        for (offset, lost) in inventory.unreadable.enumerated() {
            try send(HelperRecord(index: inventory.files.count + offset, record: HelperRun.named(
                FileRecord(path: lost.entry.path.description, size: lost.entry.size, kind: .other, verdict: .rejected,
                           findings: [lost.finding]), lost.entry), body: .none))
        }
        if inspecting {
            // Inspect looks at files one by one: whether a DICOMDIR lists them is not its question.
            try events.send(.fileSet, HelperFileSet(findings: [], unlisted: []))
        } else {
            let check = FileSetCheck(directories: directories, inventory: inventory, dicomPaths: Set(dicomPaths.keys))
            try events.send(.fileSet, HelperFileSet(findings: check.findings, unlisted: check.unlisted.compactMap { dicomPaths[$0] }.sorted()))
        }
        try events.send(.done)
    }

    // MARK: reading and fanning out

    private func process(_ files: [MediaEntry], on volume: any Volume) throws {
        // Workers spend much of their time waiting for the agent's engines (each scan is a round
        // trip over the pipe), so there are more of them than cores: while some wait, others parse.
        let threads = 4 * (job.workers == 0 ? ProcessInfo.processInfo.activeProcessorCount : job.workers)
        let window = Window(count: max(2, threads * 2), bytes: 128 << 20)
        let pool = WorkerPool(threads: max(1, threads))
        let failure = FailureBox()
        for (index, entry) in files.enumerated() {
            if let error = failure.error { throw error }
            try events.send(.progress, HelperProgress(index: index, path: entry.path.description, size: entry.size))
            Faults.trigger(at: entry.path)
            guard let candidate = try readCandidate(index, entry, volume) else { continue }
            switch candidate {
            case let .inMemory(bytes, medium):
                window.acquire(Int64(bytes.count))
                pool.submit {
                    defer { window.release(Int64(bytes.count)) }
                    do {
                        let source: any ByteSource = medium.map { InMemoryOnMedium(bytes: bytes, mediumStart: $0.lowerBound) }
                            ?? InMemoryByteSource(bytes)
                        try self.protect(index, entry, source, sha256: SHA256.hash(data: bytes).lowercaseHex, original: bytes)
                    } catch { failure.set(error) }
                }
            case let .streamed(file):
                let sha: String
                do { sha = try HelperRun.sha256(of: file) } catch {
                    try send(HelperRecord(index: index, record: HelperRun.named(FileRecord(path: entry.path.description, size: entry.size,
                        kind: .dicom, verdict: .rejected, findings: [error.finding(at: entry.path)]), entry), body: .none))
                    continue
                }
                let medium = job.mediumScans == true ? file.mediumRange : nil
                let source: any ByteSource = medium.map { StreamedOnMedium(inner: MediaByteSource(file), mediumStart: $0.lowerBound) }
                    ?? MediaByteSource(file)
                try protect(index, entry, source, sha256: sha, original: nil)
            }
        }
        pool.finish()
        if let error = failure.error { throw error }
    }

    private enum Candidate {
        case inMemory([UInt8], medium: Range<Int64>?)
        case streamed(any MediaFile)
    }

    /// Reads a file and classifies it by content. Files up to the in-memory limit are read whole
    /// in one request (sequential on the media); larger ones only their first bytes. Non-DICOM is
    /// recorded as discarded here, with its hash, and never leaves the helper.
    private func readCandidate(_ index: Int, _ entry: MediaEntry, _ volume: any Volume) throws -> Candidate? {
        do {
            let file = try volume.open(entry)
            let whole = entry.size <= job.inMemoryFileLimit
            let bytes = try file.read(at: 0, count: whole ? Int(entry.size) : ContentClassifier.prefixLength)
            let classification = ContentClassifier.classify(name: entry.path.name,
                                                            prefix: Array(bytes.prefix(ContentClassifier.prefixLength)))
            guard classification.kind == .dicom else {
                var record = try discarded(entry, file, classification, whole ? bytes : nil)
                if inspecting {
                    // Named for what it is, in the words `inspect` has always printed.
                    let words = ContentClassifier.notDICOM(classification, prefix: Array(bytes.prefix(ContentClassifier.prefixLength)),
                                                           size: entry.size)
                    record.findings = record.findings.map { Finding($0.code, $0.severity, words + "; it would not be imported") }
                }
                try send(HelperRecord(index: index, record: HelperRun.named(record, entry), body: .none))
                return nil
            }
            return whole ? .inMemory(bytes, medium: job.mediumScans == true ? file.mediumRange : nil) : .streamed(file)
        } catch let error as MediaError {
            try send(HelperRecord(index: index, record: HelperRun.named(FileRecord(path: entry.path.description, size: entry.size,
                kind: .other, verdict: .rejected, findings: [error.finding(at: entry.path)]), entry), body: .none))
            return nil
        }
    }

    private func discarded(_ entry: MediaEntry, _ file: any MediaFile, _ classification: ContentClassifier.Classification,
                           _ bytes: [UInt8]?) throws(MediaError) -> FileRecord {
        var findings: [Finding] = []
        switch classification.kind {
        case .executable:
            findings.append(Finding(.executableDiscarded, .medium, "\(classification.what) was not imported"))
        case .autorun:
            findings.append(Finding(.autorunDiscarded, .medium, "autorun.inf was not imported (it would start a program on Windows)"))
        default:
            findings.append(Finding(.contentDiscarded, .info, "\(classification.what) is not DICOM and was not imported"))
        }
        var sha: String?
        if let bytes {
            sha = SHA256.hash(data: bytes).lowercaseHex
        } else if entry.size <= HelperRun.discardedHashLimit {
            sha = try HelperRun.sha256(of: file)
        }
        return FileRecord(path: entry.path.description, size: entry.size, sha256: sha, kind: classification.kind,
                          verdict: .discarded, findings: findings)
    }

    public static let discardedHashLimit: Int64 = 64 << 20

    /// A file imported under a stand-in for a hostile name keeps the name from the medium in the
    /// report, with the finding that says it was neutralised.
    public static func named(_ record: FileRecord, _ entry: MediaEntry) -> FileRecord {
        guard let original = entry.path.mediumDescription else { return record }
        var record = record
        record.originalPath = original
        record.findings.insert(Finding(.mediaPathTraversal, .low,
            "the name on the medium, \(original), is unsafe; the file was read by its location and named \(entry.path)"), at: 0)
        return record
    }

    public static func sha256(of file: any MediaFile) throws(MediaError) -> String {
        var hasher = SHA256()
        var offset: Int64 = 0
        while offset < file.entry.size {
            let bytes = try file.read(at: offset, count: helperChunkBytes)
            if bytes.isEmpty { break }
            hasher.update(data: bytes)
            offset += Int64(bytes.count)
        }
        return hasher.finalize().lowercaseHex
    }

    // MARK: protecting one file

    private func protect(_ index: Int, _ entry: MediaEntry, _ source: any ByteSource, sha256: String, original: [UInt8]?) throws {
        let protection = protector.protect(source)
        var record = FileRecord(path: entry.path.description, size: entry.size, sha256: sha256, kind: .dicom,
                                verdict: protection.verdict, findings: protection.findings,
                                sopInstanceUID: protection.summary?.sopInstanceUID.nonEmpty,
                                studyInstanceUID: protection.summary?.studyInstanceUID.nonEmpty)
        // The report lists the parts the rebuild did something with; `inspect` shows them all.
        if inspecting {
            record.parts = protection.parts
        } else {
            let changed = ReportedParts.of(protection.parts)
            if !changed.isEmpty { record.parts = changed }
        }
        record = HelperRun.named(record, entry)
        if protection.isDirectory, inspecting {
            // Inspected as a file of its own: its verdict is its protection's, and nothing is delivered.
            record.kind = .dicomdir
            try send(HelperRecord(index: index, record: record, summary: nil, mediaSummary: protection.mediaSummary, body: .none))
            return
        }
        if protection.isDirectory, let file = protection.rebuilt {
            record.kind = .dicomdir
            record.verdict = .discarded
            do {
                let directory = try DICOMDirectory.parse(file, source: source, options: job.policy.parsing)
                lock.withLock { directories.append((entry.path, directory)) }
            } catch {
                record.findings.append(Finding(.dicomdirUnreadable, .medium, "the DICOMDIR could not be read: \(error)"))
            }
            try send(HelperRecord(index: index, record: record, summary: nil, mediaSummary: protection.mediaSummary, body: .none))
            return
        }
        lock.withLock { dicomPaths[entry.path.description.uppercased()] = index }
        // The media's patient goes only where it differs from the delivered one (reconciliation).
        let mediaSummary = protection.mediaSummary == protection.summary ? nil : protection.mediaSummary
        let message = HelperRecord(index: index, record: record, summary: protection.summary, mediaSummary: mediaSummary,
                                   body: protection.verdict == .discarded ? .none
                                       : protection.verdict != .rejected && protection.summary != nil ? .rebuilt : .original)
        // Encoded, and a file of usual size rebuilt, before the pipe is taken: the pipe is one for
        // every worker, and whatever is done while holding it is done one file at a time.
        var compact = message
        (compact.partsList, compact.findingsList) = lists.numbers(for: record)
        let full = compact
        if compact.partsList != nil { compact.record.parts = nil }
        if compact.findingsList != nil { compact.record.findings = [] }
        let header = try JSONEncoder().encode(compact)
        var prebuilt: (bytes: [UInt8], error: String?)?
        if message.body == .rebuilt && source.count <= HelperRun.rebuiltInMemory {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(Int(source.count))
            do {
                try protector.write(protection, source: source) { bytes.append(contentsOf: $0) }
                prebuilt = (bytes, nil)
            } catch {
                prebuilt = (bytes, "\(error)")
            }
        }
        try events.together { send in
            // The first record through the pipe with a list carries it (rarely: once per distinct list).
            let carries = [full.partsList, full.findingsList].compactMap { $0 }.map(lists.firstSending).contains(true)
            try (carries ? JSONEncoder().encode(full) : header).withUnsafeBytes { try send(.record, $0) }
            // Left out by policy: neither delivered nor quarantined, so no bytes follow.
            if message.body == .none { return }
            if message.body == .rebuilt {
                let rebuilt = prebuilt.map { sendAll(send, $0.bytes, error: $0.error) }
                    ?? stream(send) { sink in try protector.write(protection, source: source, to: sink) }
                try rebuilt.sent()
                guard rebuilt.error != nil else { return }
                // The agent marks the file rejected and quarantines the original that follows.
            }
            try stream(send) { sink in
                if let original { try original.withUnsafeBytes { try sink($0) }; return }
                var offset: Int64 = 0
                while offset < source.count {
                    let bytes = try source.read(at: offset, count: Int(min(Int64(helperChunkBytes), source.count - offset)))
                    if bytes.isEmpty { break }
                    try bytes.withUnsafeBytes { try sink($0) }
                    offset += Int64(bytes.count)
                }
            }.sent()
        }
    }

    /// Rebuilt files up to this size are rebuilt in memory, outside the pipe's lock; larger ones
    /// are streamed as they are rebuilt (memory stays bounded whatever the file).
    public static let rebuiltInMemory: Int64 = 4 << 20

    /// Sends bytes already in memory as chunks, then the `end` frame.
    private func sendAll(_ send: (FrameKind, UnsafeRawBufferPointer) throws -> Void, _ bytes: [UInt8], error: String?) -> Streamed {
        var result = Streamed(error: error)
        do {
            try bytes.withUnsafeBytes { all in
                var offset = 0
                while offset < all.count {
                    let end = min(all.count, offset + helperChunkBytes)
                    try send(.chunk, UnsafeRawBufferPointer(rebasing: all[offset..<end]))
                    offset = end
                }
            }
            try HelperEnd(error: error).compact.withUnsafeBytes { try send(.end, $0) }
        } catch {
            result.pipe = error
        }
        return result
    }

    private struct Streamed {
        /// The pipe failed: the session cannot go on.
        var pipe: (any Error)?
        /// The bytes stopped early (rebuild or read error); reported in the `end` frame.
        var error: String?

        func sent() throws { if let pipe { throw pipe } }
    }

    /// Sends what `produce` writes as chunks of up to `helperChunkBytes`, then the `end` frame.
    private func stream(_ send: (FrameKind, UnsafeRawBufferPointer) throws -> Void,
                        _ produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) -> Streamed {
        withoutActuallyEscaping(send) { send in stream(escaping: send, produce) }
    }

    private func stream(escaping send: @escaping (FrameKind, UnsafeRawBufferPointer) throws -> Void,
                        _ produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) -> Streamed {
        struct PipeFailed: Error { let error: any Error }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: helperChunkBytes, alignment: 16)
        defer { buffer.deallocate() }
        var gatherer = PieceGatherer(buffer)
        var result = Streamed()
        func chunk(_ bytes: UnsafeRawBufferPointer) throws {
            do { try send(.chunk, bytes) } catch { throw PipeFailed(error: error) }
        }
        func flush() throws {
            guard gatherer.filled > 0 else { return }
            try chunk(gatherer.gathered)
            gatherer.filled = 0
        }
        do {
            try produce { piece in try gatherer.add(piece, full: chunk) }
            try flush()
        } catch let failed as PipeFailed {
            result.pipe = failed.error
            return result
        } catch {
            do { try flush() } catch { result.pipe = error; return result }
            result.error = "\(error)"
        }
        do {
            try HelperEnd(error: result.error).compact.withUnsafeBytes { try send(.end, $0) }
        } catch { result.pipe = error }
        return result
    }

    private func send(_ record: HelperRecord) throws { try events.send(.record, record) }
}

/// Files in flight: enough that workers never starve, bounded in bytes so memory stays flat.
public final class Window: @unchecked Sendable {
    private let condition = NSCondition()
    private let maxCount: Int
    private let maxBytes: Int64
    private var count = 0
    private var bytes: Int64 = 0

    public init(count: Int, bytes: Int64) { maxCount = count; maxBytes = bytes }

    public func acquire(_ size: Int64) {
        condition.withLock {
            while count > 0, count >= maxCount || bytes + size > maxBytes { condition.wait() }
            count += 1
            bytes += size
        }
    }

    public func release(_ size: Int64) {
        condition.withLock { count -= 1; bytes -= size; condition.broadcast() }
    }
}

/// Threads of the helper's own, not Dispatch: libdispatch's pool on Linux watches its workers
/// through /proc/<tid>/stat, which the sandbox does not open, and treats the refusal as fatal.
public final class WorkerPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var work: [@Sendable () -> Void] = []
    private var closing = false
    private var running = 0

    public init(threads: Int) {
        running = threads
        for _ in 0..<threads {
            let thread = Thread { [self] in
                while let next = take() { next() }
                condition.withLock { running -= 1; condition.broadcast() }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    public func submit(_ job: @escaping @Sendable () -> Void) {
        // One job wakes one worker.
        condition.withLock { work.append(job); condition.signal() }
    }

    private func take() -> (@Sendable () -> Void)? {
        condition.withLock {
            while work.isEmpty && !closing { condition.wait() }
            return work.isEmpty ? nil : work.removeFirst()
        }
    }

    /// Runs what was submitted, then ends the threads.
    public func finish() {
        condition.withLock {
            closing = true
            condition.broadcast()
            while running > 0 { condition.wait() }
        }
    }
}

public final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?
    public var error: (any Error)? { lock.withLock { stored } }
    public func set(_ error: any Error) { lock.withLock { if stored == nil { stored = error } } }
}

