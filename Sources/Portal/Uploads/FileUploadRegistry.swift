import Foundation
import Glibc

/// One small JSON file per upload, `<id>.json`, replaced atomically (write a temporary file, fsync, rename, fsync
/// the directory) so a crash leaves either the old record or the new one.
public struct FileUploadRegistry: UploadRegistry {
    public let directory: String

    public init(directory: String) throws {
        try DurableFile.makeDirectory(directory)
        self.directory = directory
    }

    public func create(_ record: UploadRecord) async throws {
        let directory = directory
        try await offload {
            // link(2) refuses an existing name: taking the id and writing the record are one step.
            let temporary = try Self.writeTemporary(record, in: directory)
            defer { _ = try? DurableFile.unlinkFile(temporary) }
            guard link(temporary, Self.path(record.id, in: directory)) == 0 else {
                if errno == EEXIST { throw RegistryError.alreadyExists(record.id) }
                throw DurableFile.error("link record")
            }
            try DurableFile.syncDirectory(directory)
        }
    }

    public func get(_ id: UploadID) async throws -> UploadRecord? {
        let directory = directory
        return try await offload { try Self.load(id, in: directory) }
    }

    public func setOffset(_ id: UploadID, offset: Int64, expires: Date) async throws {
        let directory = directory
        try await offload {
            guard var record = try Self.load(id, in: directory) else { throw RegistryError.notFound(id) }
            record.offset = offset
            record.expires = expires
            let temporary = try Self.writeTemporary(record, in: directory)
            do {
                try DurableFile.renameFile(temporary, Self.path(id, in: directory))
            } catch {
                _ = try? DurableFile.unlinkFile(temporary)
                throw error
            }
            try DurableFile.syncDirectory(directory)
        }
    }

    public func delete(_ id: UploadID) async throws {
        let directory = directory
        try await offload {
            if try DurableFile.unlinkFile(Self.path(id, in: directory)) { try DurableFile.syncDirectory(directory) }
        }
    }

    public func expired(at now: Date) async throws -> [UploadRecord] {
        let directory = directory
        return try await offload {
            try DurableFile.list(directory).compactMap { name -> UploadRecord? in
                guard name.hasSuffix(".json"), let id = UploadID(String(name.dropLast(".json".count))) else { return nil }
                guard let record = try Self.load(id, in: directory), record.isExpired(at: now) else { return nil }
                return record
            }
        }
    }

    private static func path(_ id: UploadID, in directory: String) -> String { "\(directory)/\(id.rawValue).json" }

    private static func load(_ id: UploadID, in directory: String) throws -> UploadRecord? {
        let fd: Int32
        do {
            fd = try DurableFile.openFile(path(id, in: directory), flags: O_RDONLY)
        } catch StagingError.io(_, ENOENT) {
            return nil
        }
        defer { close(fd) }
        let bytes = try DurableFile.read(fd, count: Int(try DurableFile.length(fd)), at: 0)
        do {
            return try JSONDecoder().decode(UploadRecord.self, from: Data(bytes))
        } catch {
            throw RegistryError.unreadable(id, "\(error)")
        }
    }

    private static func writeTemporary(_ record: UploadRecord, in directory: String) throws -> String {
        let temporary = "\(directory)/.\(record.id.rawValue).\(UploadID.random().rawValue).tmp"
        let bytes = try JSONEncoder().encode(record)
        let fd = try DurableFile.openFile(temporary, flags: O_WRONLY | O_CREAT | O_EXCL)
        defer { close(fd) }
        do {
            try bytes.withUnsafeBytes { try DurableFile.writeAll(fd, $0, at: 0) }
            try DurableFile.sync(fd)
        } catch {
            _ = try? DurableFile.unlinkFile(temporary)
            throw error
        }
        return temporary
    }
}
