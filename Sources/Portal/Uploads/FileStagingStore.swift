import Crypto
import Glibc
import NIOCore
import POSIX

/// A staging store in one directory (local, or a shared file system every core and worker mounts): one file per
/// upload, `<id>.stage`, laid out as `SegmentFormat` describes.
public struct FileStagingStore: StagingStore {
    public let directory: String
    /// Segment and record buffers passed from one append to the next.
    let buffers = SegmentBuffers()

    public init(directory: String) throws {
        try StagingIO.makeDirectory(directory)
        self.directory = directory
    }

    func path(_ id: UploadID) -> String { "\(directory)/\(id.rawValue).stage" }

    public func create(_ id: UploadID, key: SymmetricKey) async throws {
        let path = path(id), directory = directory
        try await offload {
            let file: Descriptor
            do {
                file = try StagingIO.open(path, flags: O_WRONLY | O_CREAT | O_EXCL)
            } catch StagingError.io(_, EEXIST) {
                throw StagingError.alreadyExists(id)
            }
            do {
                try StagingIO.io("write", try file.writeAll(SegmentFormat.header(prefix: SegmentFormat.newPrefix()), at: 0))
                try StagingIO.io("fsync", try file.sync())
                try StagingIO.syncDirectory(directory)
            } catch {
                _ = try? StagingIO.unlinkFile(path)
                throw error
            }
        }
    }

    public func beginAppend(_ id: UploadID, key: SymmetricKey, at offset: Int64) async throws -> any StagedAppend {
        let path = path(id), key = SendableKey(key: key), buffers = buffers
        return try await offload {
            let file = try Self.openExisting(path, id, flags: O_RDWR)
            let layout = try SegmentLayout.scan(file, id, repair: true)
            guard let index = layout.boundaries.firstIndex(where: { $0.plaintext == offset }) else {
                throw StagingError.offsetMismatch(id, expected: offset, stored: layout.plaintext)
            }
            let boundary = layout.boundaries[index]
            if index < layout.boundaries.count - 1 {
                // Segments written for a chunk that was never acknowledged: the client sends them again.
                try StagingIO.io("truncate", try file.truncate(to: boundary.file))
                try StagingIO.io("fsync", try file.sync())
            }
            return FileStagedAppend(file: file, id: id, key: key, prefix: layout.prefix, index: Int64(index),
                                    start: boundary.file, plaintext: boundary.plaintext, buffers: buffers)
        }
    }

    public func size(_ id: UploadID) async throws -> Int64 {
        let path = path(id)
        return try await offload {
            try SegmentLayout.scan(try Self.openExisting(path, id, flags: O_RDWR), id, repair: true).plaintext
        }
    }

    public func read(_ id: UploadID, key: SymmetricKey, length: Int64) async throws
        -> AsyncThrowingStream<ByteBuffer, any Error>
    {
        let path = path(id), key = SendableKey(key: key)
        let reader = try await offload {
            try SegmentReader(file: try Self.openExisting(path, id, flags: O_RDONLY), id: id, key: key, length: length)
        }
        return AsyncThrowingStream(unfolding: { try await offload { try reader.next() } })
    }

    public func remove(_ id: UploadID) async throws {
        let path = path(id), directory = directory
        try await offload {
            if try StagingIO.unlinkFile(path) { try StagingIO.syncDirectory(directory) }
        }
    }

    public func list() async throws -> [UploadID] {
        let directory = directory
        return try await offload {
            try StagingIO.list(directory).compactMap { name in
                name.hasSuffix(".stage") ? UploadID(String(name.dropLast(".stage".count))) : nil
            }
        }
    }

    private static func openExisting(_ path: String, _ id: UploadID, flags: Int32) throws -> Descriptor {
        do {
            return try StagingIO.open(path, flags: flags)
        } catch StagingError.io(_, ENOENT) {
            throw StagingError.notFound(id)
        }
    }
}

/// Where each whole segment of a staged file ends.
struct SegmentLayout {
    var prefix: [UInt8]
    /// (plaintext offset, file offset) at the start and after every whole segment.
    var boundaries: [(plaintext: Int64, file: Int64)]
    var plaintext: Int64 { boundaries.last!.plaintext }

    /// A last segment cut short by a crash is removed when `repair` is set (it was never acknowledged); a length
    /// no segment can have is corruption, not a crash.
    static func scan(_ file: Descriptor, _ id: UploadID, repair: Bool) throws -> SegmentLayout {
        let header = try StagingIO.io("read", try file.read(upTo: SegmentFormat.headerSize, at: 0))
        let fileLength = try StagingIO.io("stat", try file.size)
        guard let prefix = SegmentFormat.prefix(fromHeader: header) else {
            // A creation a crash cut short: the file was made but its header never reached the disk whole, and nothing
            // can lie past it. No byte of it was acknowledged, so it starts again empty. A bad header with data
            // behind it is damage, and stays an error.
            if repair, fileLength <= Int64(SegmentFormat.headerSize), header.count < SegmentFormat.headerSize || header.allSatisfy({ $0 == 0 }) {
                let prefix = SegmentFormat.newPrefix()
                try StagingIO.io("write", try file.writeAll(SegmentFormat.header(prefix: prefix), at: 0))
                try StagingIO.io("fsync", try file.sync())
                return SegmentLayout(prefix: prefix, boundaries: [(0, Int64(SegmentFormat.headerSize))])
            }
            throw StagingError.corrupt(id, "no staging header")
        }
        var layout = SegmentLayout(prefix: prefix, boundaries: [(0, Int64(SegmentFormat.headerSize))])
        var position = Int64(SegmentFormat.headerSize)
        while position < fileLength {
            let remaining = fileLength - position
            if remaining < Int64(SegmentFormat.lengthSize) { break }
            let lengthBytes = try StagingIO.io("read", try file.read(upTo: SegmentFormat.lengthSize, at: position))
            guard let sealed = SegmentFormat.sealedLength(lengthBytes) else {
                throw StagingError.corrupt(id, "segment \(layout.boundaries.count - 1) has an impossible length")
            }
            if remaining < Int64(SegmentFormat.lengthSize + sealed) { break }
            position += Int64(SegmentFormat.lengthSize + sealed)
            layout.boundaries.append((layout.plaintext + Int64(sealed - SegmentFormat.tagSize), position))
        }
        if position < fileLength && repair {
            try StagingIO.io("truncate", try file.truncate(to: position))
            try StagingIO.io("fsync", try file.sync())
        }
        return layout
    }
}
