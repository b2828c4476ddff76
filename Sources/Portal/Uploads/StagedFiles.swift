import Crypto
import Glibc
import NIOCore
import POSIX
import Synchronization

/// An append to a staged file. Plaintext collects until a segment is full; full segments are sealed and written at
/// once, the last partial one at `commit`, so memory holds at most one segment and one body chunk.
final class FileStagedAppend: StagedAppend {
    private struct State {
        /// Dropped (closed) once the append is committed or aborted.
        var file: Descriptor?
        let id: UploadID
        let key: SendableKey
        let prefix: [UInt8]
        let startFile: Int64
        var index: Int64
        var end: Int64
        var plaintext: Int64
        var pending: [UInt8] = []

        mutating func seal(all: Bool) throws {
            let file = try open()
            var start = 0
            while pending.count - start >= SegmentFormat.maxPlaintext || (all && start < pending.count) {
                guard index < SegmentFormat.maxSegments else {
                    throw StagingError.corrupt(id, "more segments than a nonce can count")
                }
                let count = min(SegmentFormat.maxPlaintext, pending.count - start)
                let record = try SegmentFormat.seal(pending[start..<start + count], upload: id, index: index,
                                                    prefix: prefix, key: key.key)
                try StagingIO.io("write", try file.writeAll(record, at: end))
                end += Int64(record.count)
                plaintext += Int64(count)
                index += 1
                start += count
            }
            pending.removeFirst(start)
        }

        func open() throws(StagingError) -> Descriptor {
            guard let file else { throw StagingError.io("append already finished", errno: EBADF) }
            return file
        }
    }

    private let state: Mutex<State>

    init(file: Descriptor, id: UploadID, key: SendableKey, prefix: [UInt8], index: Int64, start: Int64, plaintext: Int64) {
        state = Mutex(State(file: file, id: id, key: key, prefix: prefix, startFile: start, index: index, end: start,
                            plaintext: plaintext))
    }

    func write(_ bytes: ByteBuffer) async throws {
        let full = try state.withLock { state in
            _ = try state.open()
            state.pending.append(contentsOf: bytes.readableBytesView)
            return state.pending.count >= SegmentFormat.maxPlaintext
        }
        if full {
            try await offload { try self.state.withLock { try $0.seal(all: false) } }
        }
    }

    func commit() async throws -> Int64 {
        try await offload {
            try self.state.withLock { state in
                let file = try state.open()
                try state.seal(all: true)
                try StagingIO.io("fsync", try file.sync())
                state.file = nil
                return state.plaintext
            }
        }
    }

    func abort() async throws {
        try await offload {
            try self.state.withLock { state in
                guard let file = state.file else { return }
                state.file = nil
                state.pending = []
                try StagingIO.io("truncate", try file.truncate(to: state.startFile))
                try StagingIO.io("fsync", try file.sync())
            }
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
