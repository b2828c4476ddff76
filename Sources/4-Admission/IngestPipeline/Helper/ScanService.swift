import Dispatch
import Foundation
import HelperProtocol
import MediaReader
import Protector

/// Runs the media helper's scan requests on the agent's engines (the engines never run inside the
/// helper): the bytes are collected from the pipe (in memory up to 64 MiB, else in a file under
/// the agent's own temporary directory), scanned on a bounded number of threads, and answered.
public final class ScanService: @unchecked Sendable {
    private let engines: [any MalwareEngine]
    private let replies: FrameWriter
    private let spill: URL
    /// The medium, when the helper may name ranges of it to scan (`HelperScan.medium`).
    private let medium: SystemFile?
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
        slots = DispatchSemaphore(value: max(1, ProcessInfo.processInfo.activeProcessorCount))
    }

    /// A scan is running or waiting: the helper is waiting for us, not stalled.
    public var busy: Bool { lock.withLock { running > 0 } }

    public func receive(_ request: HelperScan, body: BodyStream) throws {
        guard engines.indices.contains(request.engine), request.count >= 0 else {
            throw HelperProtocolError.malformed("a scan for engine \(request.engine) of \(request.count) bytes")
        }
        if let offset = request.medium {
            // A range of the medium, read here: the helper names it, nothing follows on the pipe.
            guard let medium, offset >= 0, offset <= medium.size - request.count else {
                throw HelperProtocolError.malformed("a scan of \(request.count) bytes at \(offset) of the medium")
            }
            let source = FileByteSource(medium)
            // Read whole in one go where it fits (libclamav then maps memory; through its read
            // callback it would ask page by page), else read as libclamav asks.
            guard request.count <= ScanService.inMemoryLimit else {
                return dispatch(request, ScanContent(source, offset: offset, length: request.count, label: request.label), spilled: nil)
            }
            do {
                return dispatch(request, ScanContent(try source.read(at: offset, count: Int(request.count)), label: request.label), spilled: nil)
            } catch {
                return try reply(HelperScanResult(id: request.id, names: nil, error: "the medium could not be read for scanning: \(error)"))
            }
        }
        var received: Int64 = 0
        let content: ScanContent
        var spilled: URL?
        var failure: String?
        if request.count <= ScanService.inMemoryLimit {
            var bytes: [UInt8] = []
            failure = try body.forEachFrame { frame in
                received += Int64(frame.count)
                guard received <= request.count else { throw HelperProtocolError.malformed("more scan bytes than announced") }
                // Content that fits one chunk (most parts) is scanned from the frame itself, uncopied.
                if bytes.isEmpty && received == Int64(frame.count) { bytes = frame } else {
                    if bytes.capacity < Int(request.count) { bytes.reserveCapacity(Int(request.count)) }
                    bytes += frame
                }
            }
            content = ScanContent(bytes, label: request.label)
        } else {
            try FileManager.default.createDirectory(at: spill, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let file = spill.appendingPathComponent("scan-\(request.id)")
            spilled = file
            guard FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                _ = try body.drain()
                try reply(HelperScanResult(id: request.id, names: nil, error: "no room to hold \(request.count) bytes for scanning"))
                return
            }
            let handle = try FileHandle(forWritingTo: file)
            do {
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
                try reply(HelperScanResult(id: request.id, names: nil, error: "the bytes could not be held for scanning: \(error)"))
                return
            }
            content = ScanContent(FileByteSource(try SystemFile(readOnly: file.path)), label: request.label)
        }
        if let failure {
            if let spilled { try? FileManager.default.removeItem(at: spilled) }
            try reply(HelperScanResult(id: request.id, names: nil, error: failure))
            return
        }
        guard received == request.count else { throw HelperProtocolError.malformed("\(received) scan bytes of \(request.count) announced") }
        dispatch(request, content, spilled: spilled)
    }

    /// Scans on one of the bounded threads and answers.
    private func dispatch(_ request: HelperScan, _ content: ScanContent, spilled: URL?) {
        let engine = engines[request.engine]
        // Read only by the one scan below: bytes in memory, or a range of our spill file or of the medium.
        nonisolated(unsafe) let scanned = content
        let spillFile = spilled
        lock.withLock { running += 1 }
        slots.wait()
        group.enter()
        DispatchQueue.global().async { [self] in
            defer {
                if let spillFile { try? FileManager.default.removeItem(at: spillFile) }
                lock.withLock { running -= 1 }
                slots.signal()
                group.leave()
            }
            let result: HelperScanResult
            do { result = HelperScanResult(id: request.id, names: try engine.scan(scanned), error: nil) } catch {
                result = HelperScanResult(id: request.id, names: nil, error: "\(error)")
            }
            // A helper that has died cannot take the answer; its failure is reported elsewhere.
            try? reply(result)
        }
    }

    private func reply(_ result: HelperScanResult) throws { try replies.send(.scanResult, result) }

    /// Waits for running scans and removes the temporary directory.
    public func finish() {
        group.wait()
        try? FileManager.default.removeItem(at: spill)
    }
}
