import Dispatch
import Foundation
import HelperProtocol
import MediaReader
import Protector
import Scanner

/// Runs the media helper's scan requests on the agent's engines, which run in the scanner process
/// (`ScannerClient`), never in the agent nor in the helper. A request names every engine and its
/// bytes cross each boundary once: from the pipe into memory the scanner reads (a buffer shared
/// with it, or a sealed memfd, or a file under the agent's own temporary directory beyond 64 MiB);
/// a range of the medium is only an offset into the medium's descriptor, handed to the scanner
/// once. Requests in flight are bounded by the scanner's buffers and answered as they finish.
/// Engines that are not the scanner's (tests) run here, on the same bytes, on a bounded number of
/// threads.
public final class ScanService: @unchecked Sendable {
    private let engines: [any MalwareEngine]
    private let replies: FrameWriter
    private let spill: URL
    /// The medium, when the helper may name ranges of it to scan (`HelperScan.medium`).
    private let medium: SystemFile?
    /// The scanner behind every engine, and the medium's token there.
    private let scanner: ScannerClient?
    private let mediumToken: Int?
    private let group = DispatchGroup()
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private var running = 0

    public static let inMemoryLimit: Int64 = 64 << 20

    public init(engines: [any MalwareEngine], replies: FrameWriter, medium: SystemFile?, spill: URL) {
        self.engines = engines
        self.medium = medium
        self.replies = replies
        self.spill = spill
        let clients = engines.map { ($0 as? ScannerEngine)?.client }
        if let first = clients.first ?? nil, clients.allSatisfy({ $0 === first }),
           zip(engines, engines.indices).allSatisfy({ ($0 as? ScannerEngine)?.index == $1 }) {
            scanner = first
            mediumToken = medium.map { first.register(medium: $0.descriptor, size: $0.size) }
        } else {
            scanner = nil
            mediumToken = nil
        }
        slots = DispatchSemaphore(value: max(1, ProcessInfo.processInfo.activeProcessorCount))
    }

    /// A scan is running or waiting: the helper is waiting for us, not stalled.
    public var busy: Bool { lock.withLock { running > 0 } }

    public func receive(_ request: HelperScan, body: BodyStream) throws {
        guard request.asked.allSatisfy({ engines.indices.contains($0) }), request.count >= 0 else {
            throw HelperProtocolError.malformed("a scan for engines \(request.asked) of \(request.count) bytes")
        }
        if let offset = request.medium {
            // A range of the medium: the helper names it, nothing follows on the pipe.
            guard let medium, offset >= 0, offset <= medium.size - request.count else {
                throw HelperProtocolError.malformed("a scan of \(request.count) bytes at \(offset) of the medium")
            }
        }
        if let scanner { return try submit(request, body: body, to: scanner) }
        if let offset = request.medium, let medium {
            let source = FileByteSource(medium)
            // Read whole in one go where it fits (libclamav then maps memory; through its read
            // callback it would ask page by page), else read as libclamav asks.
            guard request.count <= ScanService.inMemoryLimit else {
                return dispatch(request, ScanContent(source, offset: offset, length: request.count, label: request.label))
            }
            do {
                return dispatch(request, ScanContent(try source.read(at: offset, count: Int(request.count)), label: request.label))
            } catch {
                return try reply(request, failure: "the medium could not be read for scanning: \(error)")
            }
        }
        var received: Int64 = 0
        func counted(_ count: Int) throws {
            received += Int64(count)
            guard received <= request.count else { throw HelperProtocolError.malformed("more scan bytes than announced") }
        }
        if request.count <= ScanService.inMemoryLimit {
            var bytes: [UInt8] = []
            let failure = try body.forEachFrame { frame in
                try counted(frame.count)
                // Content that fits one chunk (most parts) is scanned from the frame itself, uncopied.
                if bytes.isEmpty && received == Int64(frame.count) { bytes = frame } else {
                    if bytes.capacity < Int(request.count) { bytes.reserveCapacity(Int(request.count)) }
                    bytes += frame
                }
            }
            if let failure { return try reply(request, failure: failure) }
            guard received == request.count else { throw HelperProtocolError.malformed("\(received) scan bytes of \(request.count) announced") }
            return dispatch(request, ScanContent(bytes, label: request.label))
        }
        guard let held = try spill(request, body: body) else { return }
        dispatch(request, ScanContent(FileByteSource(held), label: request.label))
    }

    /// Hands the request to the scanner and answers the helper when the scanner does. The bytes go
    /// from the pipe straight into a buffer shared with the scanner (a sealed memfd of its own
    /// beyond the buffer's size, a file beyond 64 MiB); a range of the medium is an offset only.
    private func submit(_ request: HelperScan, body: BodyStream, to scanner: ScannerClient) throws {
        lock.withLock { running += 1 }
        group.enter()
        var submitted = false
        defer {
            if !submitted {
                lock.withLock { running -= 1 }
                group.leave()
            }
        }
        // Waits while every buffer is in use: the scanner is behind, and so the helper waits.
        let lease = scanner.lease()
        let answer: @Sendable ([EngineOutcome]) -> Void = { [self] outcomes in
            // A helper that has died cannot take the answer; its failure is reported elsewhere.
            try? reply(request, outcomes)
            lock.withLock { running -= 1 }
            group.leave()
        }
        func send(_ body: ScannerBody, descriptor: Int32? = nil, holding held: Any? = nil) {
            submitted = true
            scanner.submit(lease, body, descriptor: descriptor, holding: held, label: request.label, engines: request.asked, completion: answer)
        }
        if let offset = request.medium, let mediumToken {
            return send(.medium(token: mediumToken, offset: offset, count: request.count))
        }
        if request.count <= Int64(lease.memory.count) {
            let filled = try body.read(into: UnsafeMutableRawBufferPointer(rebasing: lease.memory[0..<Int(request.count)]))
            if let failure = filled.error { return try reply(request, failure: failure) }
            guard filled.count == request.count else { throw HelperProtocolError.malformed("\(filled.count) scan bytes of \(request.count) announced") }
            return send(.shared(slot: lease.slot, count: request.count))
        }
        if request.count <= ScanService.inMemoryLimit {
            let memory: SealedMemory
            let filled: (count: Int, error: String?)
            do {
                memory = try SealedMemory(name: "scan-\(request.id)")
                filled = try memory.fill(count: request.count) { room in try body.read(into: room) }
                try memory.seal()
            } catch let error as HelperProtocolError {
                throw error  // the helper broke the protocol, or the pipe failed: the conversation ends
            } catch {
                _ = try? body.drain()
                return try reply(request, failure: "the bytes could not be held for scanning: \(error)")
            }
            if let failure = filled.error { return try reply(request, failure: failure) }
            guard filled.count == request.count else { throw HelperProtocolError.malformed("\(filled.count) scan bytes of \(request.count) announced") }
            return send(.attached(count: request.count), descriptor: memory.fd.rawValue, holding: memory)
        }
        guard let held = try spill(request, body: body) else { return }
        send(.attached(count: request.count), descriptor: held.descriptor, holding: held)
    }

    /// Writes a large part into a file under the temporary directory, opens it and removes its
    /// name; nil when the helper has been answered already (the bytes failed or did not fit).
    private func spill(_ request: HelperScan, body: BodyStream) throws -> SystemFile? {
        var received: Int64 = 0
        try FileManager.default.createDirectory(at: spill, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let file = spill.appendingPathComponent("scan-\(request.id)")
        guard FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            _ = try body.drain()
            try reply(request, failure: "no room to hold \(request.count) bytes for scanning")
            return nil
        }
        let failure: String?
        do {
            let handle = try FileHandle(forWritingTo: file)
            failure = try body.forEach { piece in
                received += Int64(piece.count)
                guard received <= request.count else { throw HelperProtocolError.malformed("more scan bytes than announced") }
                try handle.write(contentsOf: Data(piece))
            }
            try handle.close()
        } catch let error as HelperProtocolError {
            try? FileManager.default.removeItem(at: file)
            throw error
        } catch {
            _ = try body.drain()
            try? FileManager.default.removeItem(at: file)
            try reply(request, failure: "the bytes could not be held for scanning: \(error)")
            return nil
        }
        guard failure == nil, received == request.count else {
            try? FileManager.default.removeItem(at: file)
            if let failure {
                try reply(request, failure: failure)
                return nil
            }
            throw HelperProtocolError.malformed("\(received) scan bytes of \(request.count) announced")
        }
        // Open: the name is not needed any more.
        defer { try? FileManager.default.removeItem(at: file) }
        do { return try SystemFile(readOnly: file.path) } catch {
            try reply(request, failure: "the bytes could not be held for scanning: \(error)")
            return nil
        }
    }

    /// Scans with the engines here (not the scanner's: tests).
    private func dispatch(_ request: HelperScan, _ content: ScanContent) {
        // Read only by the scan below: bytes in memory, or a range of our spill file or of the medium.
        nonisolated(unsafe) let scanned = content
        let engines = engines
        dispatch(request) {
            request.asked.map { number in EngineOutcome(Result { try engines[number].scan(scanned) }) }
        }
    }

    /// Runs `scan` on one of the bounded threads and answers.
    private func dispatch(_ request: HelperScan, _ scan: @escaping @Sendable () -> [EngineOutcome]) {
        lock.withLock { running += 1 }
        slots.wait()
        group.enter()
        DispatchQueue.global().async { [self] in
            defer {
                lock.withLock { running -= 1 }
                slots.signal()
                group.leave()
            }
            // A helper that has died cannot take the answer; its failure is reported elsewhere.
            try? reply(request, scan())
        }
    }

    private func reply(_ request: HelperScan, failure: String) throws {
        try reply(request, request.asked.map { _ in EngineOutcome(error: failure) })
    }

    /// A joint request gets one outcome per engine; a request for one engine, its names or error.
    private func reply(_ request: HelperScan, _ outcomes: [EngineOutcome]) throws {
        let result = request.engines == nil ? HelperScanResult(id: request.id, names: outcomes.first?.names, error: outcomes.first?.error)
            : HelperScanResult(id: request.id, outcomes: outcomes)
        try replies.send(.scanResult, result)
    }

    /// Waits for running scans, takes the medium back from the scanner and removes the temporary directory.
    public func finish() {
        group.wait()
        if let scanner, let mediumToken { scanner.forget(medium: mediumToken) }
        try? FileManager.default.removeItem(at: spill)
    }
}
