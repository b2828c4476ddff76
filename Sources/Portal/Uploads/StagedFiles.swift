import Crypto
import Glibc
import NIOCore
import POSIX
import Synchronization

/// An append to a staged file. Plaintext fills a segment buffer; a full segment is sealed into a record buffer
/// whose write then runs on the blocking pool while the next segment fills (the copy into the page cache costs
/// about as much as the checksum). The last partial segment is sealed at `commit`. Both buffers are reused from one
/// segment to the next, so memory holds at most one segment, one record and one body chunk (and swift-crypto's
/// output while sealing), and handed to the next append when this one ends.
final class FileStagedAppend: StagedAppend {
    private struct State {
        /// Dropped (closed) once the append is committed or aborted.
        var file: Descriptor?
        let id: UploadID
        let key: SendableKey
        let prefix: [UInt8]
        let startFile: Int64
        var index: Int64
        /// The file's end once the write in flight is done.
        var end: Int64
        var plaintext: Int64
        /// Plaintext of the segment being filled, at most `SegmentFormat.writtenPlaintext` bytes.
        var segment: [UInt8] = []
        /// Storage for the next sealed record; empty while its write is in flight.
        var record: [UInt8] = []
        /// The write of the last sealed record; it hands the record's storage back.
        var writing: Task<[UInt8], any Error>?
        /// A write that failed: everything after it would leave a hole, so only `abort` may follow.
        var failure: (any Error)?
        let buffers: SegmentBuffers

        /// Copies as much of `bytes` as the segment has room for; true when the segment is then full.
        mutating func fill(from bytes: inout ByteBuffer) throws -> Bool {
            _ = try open()
            let count = min(bytes.readableBytes, SegmentFormat.writtenPlaintext - segment.count)
            bytes.readWithUnsafeReadableBytes { buffer in
                segment.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer.prefix(count)))
                return count
            }
            return segment.count == SegmentFormat.writtenPlaintext
        }

        /// Seals the segment into `record`; the caller writes it at `end`.
        mutating func seal() throws {
            guard index < SegmentFormat.maxSegments else {
                throw StagingError.corrupt(id, "more segments than a nonce can count")
            }
            try segment.withUnsafeBytes { plain in
                try SegmentFormat.seal(plain, upload: id, index: index, prefix: prefix, key: key.key, into: &record)
            }
            plaintext += Int64(segment.count)
            index += 1
            segment.removeAll(keepingCapacity: true)
        }

        /// Closes the file and gives the buffers back.
        mutating func finish() {
            file = nil
            buffers.give(&segment)
            buffers.give(&record)
        }

        func open() throws -> Descriptor {
            if let failure { throw failure }
            guard let file else { throw StagingError.io("append already finished", errno: EBADF) }
            return file
        }
    }

    private let state: Mutex<State>

    init(file: Descriptor, id: UploadID, key: SendableKey, prefix: [UInt8], index: Int64, start: Int64, plaintext: Int64,
         buffers: SegmentBuffers) {
        state = Mutex(State(file: file, id: id, key: key, prefix: prefix, startFile: start, index: index, end: start,
                            plaintext: plaintext, segment: buffers.take(), record: buffers.take(), buffers: buffers))
    }

    func write(_ bytes: ByteBuffer) async throws {
        var bytes = bytes
        while bytes.readableBytes > 0 {
            if try state.withLock({ try $0.fill(from: &bytes) }) { try await writeSegment() }
        }
    }

    func commit() async throws -> Int64 {
        try await finishWriting()
        return try await offload {
            try self.state.withLock { state in
                let file = try state.open()
                if !state.segment.isEmpty {
                    try state.seal()
                    try StagingIO.io("write", try file.writeAll(state.record, at: state.end))
                    state.end += Int64(state.record.count)
                }
                try StagingIO.io("fsync", try file.sync())
                StagingIO.dropCached(file, from: state.startFile)
                state.finish()
                return state.plaintext
            }
        }
    }

    func abort() async throws {
        // Whatever the write in flight did is cut off below.
        try? await finishWriting()
        try await offload {
            try self.state.withLock { state in
                guard let file = state.file else { return }
                state.finish()
                try StagingIO.io("truncate", try file.truncate(to: state.startFile))
                try StagingIO.io("fsync", try file.sync())
            }
        }
    }

    /// Seals the full segment and starts writing it, once the previous write has handed its storage back.
    private func writeSegment() async throws {
        try await finishWriting()
        try state.withLock { state in
            let file = try state.open()
            try state.seal()
            // The record moves into the write: a second reference here would make the next seal copy it.
            let record = state.record, at = state.end
            state.record = []
            state.end += Int64(record.count)
            state.writing = Task {
                try await offload {
                    try StagingIO.io("write", try file.writeAll(record, at: at))
                    return record
                }
            }
        }
    }

    /// Waits for the write in flight and takes its record's storage back.
    private func finishWriting() async throws {
        guard let writing = state.withLock({ state in defer { state.writing = nil }; return state.writing }) else { return }
        do {
            let record = try await writing.value
            state.withLock { $0.record = record }
        } catch {
            state.withLock { $0.failure = error }
            throw error
        }
    }
}

/// Reads a staged file one segment at a time, verifying each tag before its plaintext leaves.
final class SegmentReader: Sendable {
    private struct State {
        /// Dropped (closed) once the last segment is read.
        var file: Descriptor?
        let id: UploadID
        let key: SendableKey
        let prefix: [UInt8]
        let length: Int64
        var index: Int64 = 0
        var position = Int64(SegmentFormat.headerSize)
        var plaintext: Int64 = 0

        mutating func next() throws -> ByteBuffer? {
            guard let file else { return nil }
            if plaintext == length {
                self.file = nil
                return nil
            }
            let lengthBytes = try StagingIO.io("read", try file.read(upTo: SegmentFormat.lengthSize, at: position))
            guard lengthBytes.count == SegmentFormat.lengthSize else { throw shortFile() }
            guard let sealedLength = SegmentFormat.sealedLength(lengthBytes) else {
                throw StagingError.corrupt(id, "segment \(index) has an impossible length")
            }
            let sealed = try StagingIO.io("read", try file.read(upTo: sealedLength, at: position + Int64(SegmentFormat.lengthSize)))
            guard sealed.count == sealedLength else { throw shortFile() }
            let plain = try SegmentFormat.open(sealed, upload: id, index: index, prefix: prefix, key: key.key)
            guard plaintext + Int64(plain.count) <= length else {
                throw StagingError.corrupt(id, "holds more than the \(length) bytes recorded")
            }
            position += Int64(SegmentFormat.lengthSize + sealedLength)
            plaintext += Int64(plain.count)
            index += 1
            return ByteBuffer(bytes: plain)
        }

        func shortFile() -> StagingError {
            .corrupt(id, "ends after \(plaintext) of the \(length) bytes recorded")
        }
    }

    private let state: Mutex<State>

    init(file: Descriptor, id: UploadID, key: SendableKey, length: Int64) throws {
        let header = try StagingIO.io("read", try file.read(upTo: SegmentFormat.headerSize, at: 0))
        guard let prefix = SegmentFormat.prefix(fromHeader: header) else {
            throw StagingError.corrupt(id, "no staging header")
        }
        state = Mutex(State(file: file, id: id, key: key, prefix: prefix, length: length))
    }

    func next() throws -> ByteBuffer? {
        try state.withLock { try $0.next() }
    }
}

/// Segment-sized buffers kept between appends: a fresh half-megabyte array per upload costs page faults and zeroing
/// that show on the profile when kiosks send thousands of small instances. At most `limit` are kept.
final class SegmentBuffers: Sendable {
    private let free = Mutex<[[UInt8]]>([])
    let limit: Int

    init(limit: Int = 16) { self.limit = limit }

    /// An empty buffer with room for a sealed segment.
    func take() -> [UInt8] {
        if let buffer = free.withLock({ $0.popLast() }) { return buffer }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(SegmentFormat.lengthSize + SegmentFormat.writtenPlaintext + SegmentFormat.tagSize)
        return buffer
    }

    /// Takes `buffer`'s storage (leaving it empty); one of another size than `take` makes is dropped.
    func give(_ buffer: inout [UInt8]) {
        var storage: [UInt8] = []
        swap(&storage, &buffer)
        guard storage.capacity >= SegmentFormat.writtenPlaintext,
              storage.capacity <= 2 * (SegmentFormat.lengthSize + SegmentFormat.writtenPlaintext + SegmentFormat.tagSize) else { return }
        storage.removeAll(keepingCapacity: true)
        free.withLock { if $0.count < limit { $0.append(storage) } }
    }
}
