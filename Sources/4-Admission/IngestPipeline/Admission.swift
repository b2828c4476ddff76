import Delivery
import DICOMCore
import Foundation
import HelperProtocol
import MediaReader
import Protector
import SessionReport

/// The agent's half of each file the media helper protected: the identity check, then the rebuilt
/// bytes into the archive or spool (or held for review), or the original into quarantine. The
/// bytes come from the helper's pipe as they are read; nothing here parses them.
public struct Admission {
    public let sink: any DeliverySink
    public let expected: IdentityCheck?
    public let identityOverride: String?
    /// Where rejected originals and held files are kept; nil: nowhere (`inspect` keeps nothing).
    public let quarantine: URL?
    public let sessionID: String

    public init(settings: IngestSession.Settings) {
        sink = settings.sink
        expected = settings.expected
        identityOverride = settings.identityOverride
        quarantine = settings.inspect ? nil : settings.stateDirectory.quarantine(settings.sessionID)
        sessionID = settings.sessionID
    }

    public struct Result {
        public let index: Int
        public let record: FileRecord
        public let summary: InstanceSummary?
        public let staged: StagedInstance?
        /// Not delivered because the patient does not match the one expected at the desk.
        public let held: Bool
        /// The patient as the media had it (before reconciliation).
        public var mediaSummary: InstanceSummary? = nil
        /// The state directory ran out of room while this file was written.
        public var storageFull = false
    }

    private struct RebuildFailed: Error { let reason: String }

    /// Throws only when the helper's stream itself is broken (`HelperProtocolError`).
    public func admit(_ message: HelperRecord, body: BodyStream) throws -> Result {
        var record = message.record
        let summary = message.summary
        func result(staged: StagedInstance? = nil, held: Bool = false, full: Bool = false) -> Result {
            Result(index: message.index, record: record, summary: summary, staged: staged, held: held,
                   mediaSummary: message.mediaSummary, storageFull: full)
        }
        switch message.body {
        case .none:
            return result()
        case .original:
            try keepOriginal(index: message.index, body: body, record: &record)
            return result()
        case .rebuilt:
            break
        }
        guard let summary, let sha = record.sha256 else { throw HelperProtocolError.malformed("a rebuilt file without its summary") }
        if let expected {
            // The patient as the media has it, before any reconciliation to local identifiers.
            let decision = expected.evaluate(message.mediaSummary ?? summary)
            record.findings += decision.findings
            if decision.result == .mismatch, let reason = identityOverride {
                record.findings.append(Finding(.identityOverride, .high,
                    "delivered although the patient does not match, by explicit override: \(reason)"))
            } else if decision.result == .mismatch {
                try hold(summary, index: message.index, body: body, record: &record)
                return result(held: true)
            }
        }
        do {
            var instance = AdmittedInstance(summary, sourceSHA256: sha, sessionID: sessionID)
            instance.mediaPath = Admission.relativePath(record, index: message.index)
            let staged = try sink.stage(instance) { write in
                if let reason = try body.forEach(write) { throw RebuildFailed(reason: reason) }
            }
            return result(staged: staged)
        } catch let error as HelperProtocolError {
            throw error
        } catch let failure as RebuildFailed {
            record.verdict = .rejected
            record.findings.append(Finding(.structureRebuildFailed, .high, "the file could not be rebuilt: \(failure.reason)"))
            // The helper follows a failed rebuild with the original, for quarantine.
            try keepOriginal(index: message.index, body: body.following(), record: &record)
            return result()
        } catch {
            // Our disk, not the file: the file is fine and nothing is quarantined.
            if let reason = try body.drain() {
                record.findings.append(Finding(.structureRebuildFailed, .high, "the file could not be rebuilt: \(reason)"))
                try body.following().drain()
            }
            let full = StagingError.isDiskFull(error)
            record.delivery = .failed
            record.findings.append(Finding(full ? .deliveryDiskFull : .deliverySpoolError, .high,
                                           "the rebuilt file could not be written to the state directory: \(error)"))
            return result(full: full)
        }
    }

    /// Rejected files: the original bytes, read-only, for forensics. Never inside the archive.
    private func keepOriginal(index: Int, body: BodyStream, record: inout FileRecord) throws {
        guard let quarantine else {
            _ = try body.drain()
            return
        }
        let target = quarantine.appendingPathComponent("original").appendingPathComponent(Admission.relativePath(record, index: index))
        do {
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try write(body, to: target)
            try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: target.path)
        } catch let error as HelperProtocolError {
            throw error
        } catch {
            _ = try body.drain()
            record.findings.append(Finding(.quarantineError, .high, "the original could not be kept in quarantine: \(error)"))
        }
    }

    /// The file's path on the medium as a clean relative path (no `..`, nothing absolute): the
    /// helper names the file, and a name from it is never trusted to stay inside a directory.
    public static func relativePath(_ record: FileRecord, index: Int) -> String {
        (try? MediaPath(validating: String(record.path.drop { $0 == "/" })))?.components.joined(separator: "/").nonEmpty
            ?? "file-\(index)"
    }

    /// Identity mismatch: the rebuilt file waits in quarantine for review; nothing is delivered.
    private func hold(_ summary: InstanceSummary, index: Int, body: BodyStream, record: inout FileRecord) throws {
        guard let quarantine else {
            if try body.drain() != nil { try body.following().drain() }
            return
        }
        // The helper's UID is used as a file name only when it is a usable UID (digits and dots).
        let name = UID.isUsable(summary.sopInstanceUID) ? summary.sopInstanceUID : "file-\(UUID().uuidString)"
        let target = quarantine.appendingPathComponent("held").appendingPathComponent(name + ".dcm")
        do {
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            if let reason = try write(body, to: target) {
                try? FileManager.default.removeItem(at: target)
                record.verdict = .rejected
                record.findings.append(Finding(.structureRebuildFailed, .high, "the file could not be rebuilt: \(reason)"))
                try keepOriginal(index: index, body: body.following(), record: &record)
            }
        } catch let error as HelperProtocolError {
            throw error
        } catch {
            // A rebuild that stopped early is followed by the original: read past that too.
            if try body.drain() != nil { try body.following().drain() }
            record.findings.append(Finding(.quarantineError, .high, "the held file could not be written: \(error)"))
        }
    }

    /// Writes the stream to a new file; returns the end frame's error, if the bytes stopped early.
    @discardableResult
    private func write(_ body: BodyStream, to target: URL) throws -> String? {
        guard FileManager.default.createFile(atPath: target.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        let handle = try FileHandle(forWritingTo: target)
        defer { try? handle.close() }
        return try body.forEach { try handle.write(contentsOf: Data($0)) }
    }
}

/// Where a body's frames come from: the helper's pipe, or frames read from it earlier.
public protocol FrameSource: AnyObject {
    func next(timeout: Double?) throws -> Frame?
    /// A chunk that fits `room` is placed there (`Frame.placed`).
    func next(timeout: Double?, chunkInto room: UnsafeMutableRawBufferPointer?) throws -> Frame?
}

extension FrameSource {
    /// Frames already in memory: a chunk is copied into `room`.
    public func next(timeout: Double?, chunkInto room: UnsafeMutableRawBufferPointer?) throws -> Frame? {
        guard let frame = try next(timeout: timeout) else { return nil }
        guard let room, frame.kind == .chunk, frame.payload.count <= room.count else { return frame }
        frame.payload.withUnsafeBytes { room.copyMemory(from: $0) }
        return Frame(kind: .chunk, payload: [], placed: frame.payload.count)
    }
}

extension FrameReader: FrameSource {}

/// The `chunk` frames after a record or scan request, up to their `end` frame.
public final class BodyStream {
    public let source: any FrameSource
    public let timeout: Double
    private var ended = false

    public init(reader: any FrameSource, timeout: Double) {
        self.source = reader
        self.timeout = timeout
    }

    /// Passes each chunk to `sink`; returns the end frame's error (the bytes stopped early), or nil.
    /// If `sink` throws, the rest is still unread: call `drain()`.
    public func forEach(_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> String? {
        try forEachFrame { try $0.withUnsafeBytes { try sink($0) } }
    }

    /// Like `forEach`, with each chunk's own array (no copy).
    public func forEachFrame(_ sink: ([UInt8]) throws -> Void) throws -> String? {
        while !ended {
            guard let frame = try source.next(timeout: timeout) else { throw HelperProtocolError.malformed("the stream ended inside a file") }
            switch frame.kind {
            case .chunk: try sink(frame.payload)
            case .end:
                ended = true
                return try frame.decode(HelperEnd.self).error
            default: throw HelperProtocolError.unexpected("\(frame.kind) inside a file's bytes")
            }
        }
        return nil
    }

    /// Reads the chunks straight into `room`, one after the other: how many bytes came, and the
    /// end frame's error. More bytes than `room` holds is a malformed stream.
    public func read(into room: UnsafeMutableRawBufferPointer) throws -> (count: Int, error: String?) {
        var filled = 0
        while !ended {
            let rest = UnsafeMutableRawBufferPointer(rebasing: room[filled...])
            guard let frame = try source.next(timeout: timeout, chunkInto: rest) else {
                throw HelperProtocolError.malformed("the stream ended inside a file")
            }
            switch frame.kind {
            case .chunk:
                guard let placed = frame.placed else { throw HelperProtocolError.malformed("more scan bytes than announced") }
                filled += placed
            case .end:
                ended = true
                return (filled, try frame.decode(HelperEnd.self).error)
            default: throw HelperProtocolError.unexpected("\(frame.kind) inside a file's bytes")
            }
        }
        return (filled, nil)
    }

    /// The stream the helper sends next (the original, after a rebuild that failed).
    public func following() -> BodyStream { BodyStream(reader: source, timeout: timeout) }

    /// Reads and drops what is left.
    @discardableResult
    public func drain() throws -> String? { try forEach { _ in } }
}

extension String {
    public var nonEmpty: String? { isEmpty ? nil : self }
}

extension AdmittedInstance {
    init(_ summary: InstanceSummary, sourceSHA256: String, sessionID: String) {
        self.init(sopInstanceUID: summary.sopInstanceUID, sopClassUID: summary.sopClassUID, transferSyntaxUID: summary.transferSyntaxUID,
                  studyInstanceUID: summary.studyInstanceUID, seriesInstanceUID: summary.seriesInstanceUID,
                  patientID: summary.patientID, patientName: summary.patientName, birthDate: summary.birthDate,
                  modality: summary.modality, studyDate: summary.studyDate, studyDescription: summary.studyDescription,
                  sourceSHA256: sourceSHA256, sessionID: sessionID)
    }
}
