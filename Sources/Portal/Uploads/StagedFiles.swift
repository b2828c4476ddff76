import Crypto
import Glibc
import NIOCore
import Synchronization

/// An append to a staged file. Plaintext collects until a segment is full; full segments are sealed and written at
/// once, the last partial one at `commit`, so memory holds at most one segment and one body chunk.
final class FileStagedAppend: StagedAppend {
    private struct State {
        var fd: Int32
        let id: UploadID
        let key: SendableKey
        let prefix: [UInt8]
        let startFile: Int64
        var index: Int64
        var file: Int64
        var plaintext: Int64
        var pending: [UInt8] = []

        mutating func seal(all: Bool) throws {
            var start = 0
            while pending.count - start >= SegmentFormat.maxPlaintext || (all && start < pending.count) {
                guard index < SegmentFormat.maxSegments else {
                    throw StagingError.corrupt(id, "more segments than a nonce can count")
                }
                let count = min(SegmentFormat.maxPlaintext, pending.count - start)
                let record = try SegmentFormat.seal(pending[start..<start + count], upload: id, index: index,
                                                    prefix: prefix, key: key.key)
                try record.withUnsafeBytes { try DurableFile.writeAll(fd, $0, at: file) }
                file += Int64(record.count)
                plaintext += Int64(count)
                index += 1
                start += count
            }
            pending.removeFirst(start)
        }

        mutating func close() {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }

    private let state: Mutex<State>

    init(fd: Int32, id: UploadID, key: SendableKey, prefix: [UInt8], index: Int64, file: Int64, plaintext: Int64) {
        state = Mutex(State(fd: fd, id: id, key: key, prefix: prefix, startFile: file, index: index, file: file,
                            plaintext: plaintext))
    }

    deinit {
        state.withLock { $0.close() }
    }

    func write(_ bytes: ByteBuffer) async throws {
        let full = try state.withLock { state in
            guard state.fd >= 0 else { throw StagingError.io("append already finished", errno: EBADF) }
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
                guard state.fd >= 0 else { throw StagingError.io("append already finished", errno: EBADF) }
                try state.seal(all: true)
                try DurableFile.sync(state.fd)
                state.close()
                return state.plaintext
            }
        }
    }

    func abort() async throws {
        try await offload {
            try self.state.withLock { state in
                guard state.fd >= 0 else { return }
                defer { state.close() }
                state.pending = []
                try DurableFile.truncate(state.fd, to: state.startFile)
                try DurableFile.sync(state.fd)
            }
        }
    }
}

/// Reads a staged file one segment at a time, verifying each tag before its plaintext leaves.
final class SegmentReader: Sendable {
    private struct State {
        var fd: Int32
        let id: UploadID
        let key: SendableKey
        let prefix: [UInt8]
        let length: Int64
        var index: Int64 = 0
        var file = Int64(SegmentFormat.headerSize)
        var plaintext: Int64 = 0

        mutating func next() throws -> ByteBuffer? {
            guard fd >= 0 else { return nil }
            if plaintext == length {
                close()
                return nil
            }
            let lengthBytes = try DurableFile.read(fd, count: SegmentFormat.lengthSize, at: file)
            guard lengthBytes.count == SegmentFormat.lengthSize else { throw shortFile() }
            guard let sealedLength = SegmentFormat.sealedLength(lengthBytes) else {
                throw StagingError.corrupt(id, "segment \(index) has an impossible length")
            }
            let sealed = try DurableFile.read(fd, count: sealedLength, at: file + Int64(SegmentFormat.lengthSize))
            guard sealed.count == sealedLength else { throw shortFile() }
            let plain = try SegmentFormat.open(sealed, upload: id, index: index, prefix: prefix, key: key.key)
            guard plaintext + Int64(plain.count) <= length else {
                throw StagingError.corrupt(id, "holds more than the \(length) bytes recorded")
            }
            file += Int64(SegmentFormat.lengthSize + sealedLength)
            plaintext += Int64(plain.count)
            index += 1
            return ByteBuffer(bytes: plain)
        }

        func shortFile() -> StagingError {
            .corrupt(id, "ends after \(plaintext) of the \(length) bytes recorded")
        }

        mutating func close() {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }

    private let state: Mutex<State>

    init(fd: Int32, id: UploadID, key: SendableKey, length: Int64) throws {
        let header = try DurableFile.read(fd, count: SegmentFormat.headerSize, at: 0)
        guard let prefix = SegmentFormat.prefix(fromHeader: header) else {
            throw StagingError.corrupt(id, "no staging header")
        }
        state = Mutex(State(fd: fd, id: id, key: key, prefix: prefix, length: length))
    }

    deinit {
        state.withLock { $0.close() }
    }

    func next() throws -> ByteBuffer? {
        try state.withLock { try $0.next() }
    }
}
