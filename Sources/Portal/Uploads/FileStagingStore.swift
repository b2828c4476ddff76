import Crypto
import Glibc
import NIOCore

/// A staging store in one directory (local, or a shared file system every core and worker mounts): one file per
/// upload, `<id>.stage`, laid out as `SegmentFormat` describes.
public struct FileStagingStore: StagingStore {
    public let directory: String

    public init(directory: String) throws {
        try DurableFile.makeDirectory(directory)
        self.directory = directory
    }

    func path(_ id: UploadID) -> String { "\(directory)/\(id.rawValue).stage" }

    public func create(_ id: UploadID, key: SymmetricKey) async throws {
        let path = path(id), directory = directory
        try await offload {
            let fd: Int32
            do {
                fd = try DurableFile.openFile(path, flags: O_WRONLY | O_CREAT | O_EXCL)
            } catch StagingError.io(_, EEXIST) {
                throw StagingError.alreadyExists(id)
            }
            defer { close(fd) }
            do {
                let prefix = SymmetricKey(size: SymmetricKeySize(bitCount: 64)).withUnsafeBytes { Array($0) }
                try SegmentFormat.header(prefix: prefix).withUnsafeBytes { try DurableFile.writeAll(fd, $0, at: 0) }
                try DurableFile.sync(fd)
                try DurableFile.syncDirectory(directory)
            } catch {
                _ = try? DurableFile.unlinkFile(path)
                throw error
            }
        }
    }

    public func beginAppend(_ id: UploadID, key: SymmetricKey, at offset: Int64) async throws -> any StagedAppend {
        let path = path(id), key = SendableKey(key: key)
        return try await offload {
            let fd = try Self.openExisting(path, id, flags: O_RDWR)
            do {
                let layout = try SegmentLayout.scan(fd, id, repair: true)
                guard let index = layout.boundaries.firstIndex(where: { $0.plaintext == offset }) else {
                    throw StagingError.offsetMismatch(id, expected: offset, stored: layout.plaintext)
                }
                let boundary = layout.boundaries[index]
                if index < layout.boundaries.count - 1 {
                    // Segments written for a chunk that was never acknowledged: the client sends them again.
                    try DurableFile.truncate(fd, to: boundary.file)
                    try DurableFile.sync(fd)
                }
                return FileStagedAppend(fd: fd, id: id, key: key, prefix: layout.prefix, index: Int64(index),
                                        file: boundary.file, plaintext: boundary.plaintext)
            } catch {
                close(fd)
                throw error
            }
        }
    }

    public func size(_ id: UploadID) async throws -> Int64 {
        let path = path(id)
        return try await offload {
            let fd = try Self.openExisting(path, id, flags: O_RDWR)
            defer { close(fd) }
            return try SegmentLayout.scan(fd, id, repair: true).plaintext
        }
    }

    public func read(_ id: UploadID, key: SymmetricKey, length: Int64) async throws
        -> AsyncThrowingStream<ByteBuffer, any Error>
    {
        let path = path(id), key = SendableKey(key: key)
        let reader = try await offload {
            let fd = try Self.openExisting(path, id, flags: O_RDONLY)
            do {
                return try SegmentReader(fd: fd, id: id, key: key, length: length)
            } catch {
                close(fd)
                throw error
            }
        }
        return AsyncThrowingStream(unfolding: { try await offload { try reader.next() } })
    }

    public func remove(_ id: UploadID) async throws {
        let path = path(id), directory = directory
        try await offload {
            if try DurableFile.unlinkFile(path) { try DurableFile.syncDirectory(directory) }
        }
    }

    public func list() async throws -> [UploadID] {
        let directory = directory
        return try await offload {
            try DurableFile.list(directory).compactMap { name in
                name.hasSuffix(".stage") ? UploadID(String(name.dropLast(".stage".count))) : nil
            }
        }
    }

    private static func openExisting(_ path: String, _ id: UploadID, flags: Int32) throws -> Int32 {
        do {
            return try DurableFile.openFile(path, flags: flags)
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
    static func scan(_ fd: Int32, _ id: UploadID, repair: Bool) throws -> SegmentLayout {
        guard let prefix = SegmentFormat.prefix(fromHeader: try DurableFile.read(fd, count: SegmentFormat.headerSize, at: 0))
        else { throw StagingError.corrupt(id, "no staging header") }
        let fileLength = try DurableFile.length(fd)
        var layout = SegmentLayout(prefix: prefix, boundaries: [(0, Int64(SegmentFormat.headerSize))])
        var position = Int64(SegmentFormat.headerSize)
        while position < fileLength {
            let remaining = fileLength - position
            if remaining < Int64(SegmentFormat.lengthSize) { break }
            let lengthBytes = try DurableFile.read(fd, count: SegmentFormat.lengthSize, at: position)
            guard let sealed = SegmentFormat.sealedLength(lengthBytes) else {
                throw StagingError.corrupt(id, "segment \(layout.boundaries.count - 1) has an impossible length")
            }
            if remaining < Int64(SegmentFormat.lengthSize + sealed) { break }
            position += Int64(SegmentFormat.lengthSize + sealed)
            layout.boundaries.append((layout.plaintext + Int64(sealed - SegmentFormat.tagSize), position))
        }
        if position < fileLength && repair {
            try DurableFile.truncate(fd, to: position)
            try DurableFile.sync(fd)
        }
        return layout
    }
}
