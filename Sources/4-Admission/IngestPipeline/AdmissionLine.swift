import Foundation
import HelperProtocol

/// Admits the helper's files on a thread of their own, in the order they came: writing them to
/// the disk and the batch `syncfs` of each commit no longer hold up the pipe, so the helper keeps
/// sending and the engines keep scanning meanwhile.
///
/// The reading thread takes each body off the pipe first (with the original that follows a failed
/// rebuild), up to `bodyLimit` bytes, and queues it; at most `queuedLimit` bytes wait. A larger
/// body is admitted on the reading thread itself, straight from the pipe, once everything queued
/// before it is done, so memory stays bounded whatever a file's size.
public final class AdmissionLine: @unchecked Sendable {
    public typealias Work = (HelperRecord, BodyStream) throws -> Void

    public static let bodyLimit = 16 << 20
    public static let queuedLimit = 8 << 20

    private let work: Work
    private let timeout: Double
    private let condition = NSCondition()
    private var queue: [(message: HelperRecord, body: BufferedFrames)] = []
    private var queuedBytes = 0
    private var working = false
    private var closed = false
    private var running = true
    /// The first error an admission threw; the reading thread rethrows it.
    private var failure: (any Error)?

    public init(timeout: Double, work: @escaping Work) {
        self.work = work
        self.timeout = timeout
        let thread = Thread { [self] in
            while let (message, body) = take() {
                do { try self.work(message, BodyStream(reader: body, timeout: self.timeout)) } catch {
                    condition.withLock { if failure == nil { failure = error } }
                }
                condition.withLock {
                    queuedBytes -= body.bytes
                    working = false
                    condition.broadcast()
                }
            }
            condition.withLock { running = false; condition.broadcast() }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Reads the record's body from `reader` and queues it, or admits it here when it is large.
    /// Throws what the stream breaks with, or what an earlier admission threw.
    public func submit(_ message: HelperRecord, reader: FrameReader) throws {
        try rethrow()
        let body = BufferedFrames()
        if message.body != .none {
            let complete = try body.read(from: reader, timeout: timeout, limit: AdmissionLine.bodyLimit)
                && (message.body != .rebuilt || body.endError == nil
                    || body.read(from: reader, timeout: timeout, limit: AdmissionLine.bodyLimit))
            guard complete else {
                try drain()
                body.rest = reader
                try work(message, BodyStream(reader: body, timeout: timeout))
                return
            }
        }
        condition.withLock {
            while !queue.isEmpty && queuedBytes + body.bytes > AdmissionLine.queuedLimit { condition.wait() }
            queue.append((message, body))
            queuedBytes += body.bytes
            condition.broadcast()
        }
    }

    /// Waits until every queued file is admitted.
    public func drain() throws {
        condition.withLock { while !queue.isEmpty || working { condition.wait() } }
        try rethrow()
    }

    /// Admits what is queued, then ends the thread. Safe to call more than once.
    public func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
            while running { condition.wait() }
        }
    }

    private func rethrow() throws {
        if let error = condition.withLock({ failure }) { throw error }
    }

    private func take() -> (HelperRecord, BufferedFrames)? {
        condition.withLock {
            while queue.isEmpty && !closed { condition.wait() }
            guard !queue.isEmpty else { return nil }
            working = true
            return queue.removeFirst()
        }
    }
}

/// A body's frames read off the pipe ahead of its admission; `rest` continues from the pipe when
/// the body was too large to hold whole.
public final class BufferedFrames: FrameSource {
    private var frames: [Frame] = []
    private var position = 0
    public private(set) var bytes = 0
    /// The last complete body's end error (the bytes stopped early).
    public private(set) var endError: String?
    public var rest: FrameReader?

    /// Reads one body up to its `end` frame; false when `limit` bytes were held before it ended.
    public func read(from reader: FrameReader, timeout: Double, limit: Int) throws -> Bool {
        while true {
            guard let frame = try reader.next(timeout: timeout) else { throw HelperProtocolError.malformed("the stream ended inside a file") }
            switch frame.kind {
            case .chunk:
                frames.append(frame)
                bytes += frame.payload.count
                if bytes > limit { return false }
            case .end:
                endError = try frame.decode(HelperEnd.self).error
                frames.append(frame)
                return true
            default:
                throw HelperProtocolError.unexpected("\(frame.kind) inside a file's bytes")
            }
        }
    }

    public func next(timeout: Double?) throws -> Frame? {
        guard position < frames.count else { return try rest?.next(timeout: timeout) }
        let frame = frames[position]
        // Each chunk is written once: let it go as soon as it is handed over.
        frames[position] = Frame(kind: frame.kind, payload: [])
        position += 1
        return frame
    }
}
