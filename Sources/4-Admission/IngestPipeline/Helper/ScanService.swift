import Dispatch
import Foundation
import HelperProtocol
import MediaReader
import Protector
import Scanner

/// Runs the media helper's scan requests on the agent's engines, which run in the scanner process
/// (`ScannerClient`), never in the agent nor in the helper. A request names every engine and its
/// bytes cross each boundary once: from the pipe into a sealed memfd (a file under the agent's own
/// temporary directory beyond 64 MiB), whose descriptor the scanner gets; a range of the medium is
/// only an offset into the medium's descriptor, handed to the scanner once. Scans run on a bounded
/// number of threads and are answered as they finish. Engines that are not the scanner's (tests)
/// run here, on the same bytes.
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
            if let scanner, let mediumToken {
                return dispatch(request) {
                    scanner.scan(.medium(token: mediumToken, offset: offset, count: request.count), descriptor: nil,
                                 label: request.label, engines: request.asked)
                }
            }
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
        var failure: String?
        if request.count <= ScanService.inMemoryLimit {
            guard let scanner else {
                var bytes: [UInt8] = []
                failure = try body.forEachFrame { frame in
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
            // The bytes go from the pipe straight into a memfd, sealed, and the scanner maps it.
            let memory: SealedMemory
            do {
                memory = try SealedMemory(name: "scan-\(request.id)")
                let filled = try memory.fill(count: request.count) { room in try body.read(into: room) }
                received = Int64(filled.count)
                failure = filled.error
                try memory.seal()
            } catch let error as HelperProtocolError {
                throw error  // the helper broke the protocol, or the pipe failed: the conversation ends
            } catch {
                _ = try? body.drain()
                return try reply(request, failure: "the bytes could not be held for scanning: \(error)")
            }
            if let failure { return try reply(request, failure: failure) }
            guard received == request.count else { throw HelperProtocolError.malformed("\(received) scan bytes of \(request.count) announced") }
            // Kept open until the scan is answered.
            return dispatch(request) {
                withExtendedLifetime(memory) {
                    scanner.scan(.attached(count: request.count), descriptor: memory.fd, label: request.label, engines: request.asked)
                }
            }
        }
        try FileManager.default.createDirectory(at: spill, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let file = spill.appendingPathComponent("scan-\(request.id)")
        guard FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            _ = try body.drain()
            return try reply(request, failure: "no room to hold \(request.count) bytes for scanning")
        }
        let handle = try FileHandle(forWritingTo: file)
        do {
            failure = try body.forEach { piece in
                try counted(piece.count)
                try handle.write(contentsOf: Data(piece))
            }
            try handle.close()
        } catch let error as HelperProtocolError {
            try? FileManager.default.removeItem(at: file)
            throw error
        } catch {
            _ = try body.drain()
            try? FileManager.default.removeItem(at: file)
            return try reply(request, failure: "the bytes could not be held for scanning: \(error)")
        }
        guard failure == nil, received == request.count else {
            try? FileManager.default.removeItem(at: file)
            if let failure { return try reply(request, failure: failure) }
            throw HelperProtocolError.malformed("\(received) scan bytes of \(request.count) announced")
        }
        let held: SystemFile
        do { held = try SystemFile(readOnly: file.path) } catch {
            try? FileManager.default.removeItem(at: file)
            return try reply(request, failure: "the bytes could not be held for scanning: \(error)")
        }
        // Open: the name is not needed any more.
        try? FileManager.default.removeItem(at: file)
        if let scanner {
            nonisolated(unsafe) let kept = held
            return dispatch(request) {
                withExtendedLifetime(kept) {
                    scanner.scan(.attached(count: request.count), descriptor: kept.descriptor, label: request.label, engines: request.asked)
                }
            }
        }
        dispatch(request, ScanContent(FileByteSource(held), label: request.label))
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
