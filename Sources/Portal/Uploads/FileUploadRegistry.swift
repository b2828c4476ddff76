import Foundation
import Glibc
import POSIX

/// One small JSON file per upload, `<id>.json`, replaced atomically (write a temporary file, fsync, rename, fsync
/// the directory) so a crash leaves either the old record or the new one.
public struct FileUploadRegistry: UploadRegistry {
    public let directory: String

    public init(directory: String) throws {
        try StagingIO.makeDirectory(directory)
        self.directory = directory
    }

    public func create(_ record: UploadRecord) async throws {
        let directory = directory
        try await offload {
            do {
                try Self.write(record, in: directory, replacing: false)
            } catch StagingError.io(_, EEXIST) {
                throw RegistryError.alreadyExists(record.id)
            }
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
            try Self.write(record, in: directory, replacing: true)
        }
    }

    public func delete(_ id: UploadID) async throws {
        let directory = directory
        try await offload {
            if try StagingIO.unlinkFile(Self.path(id, in: directory)) { try StagingIO.syncDirectory(directory) }
        }
    }

    public func expired(at now: Date) async throws -> [UploadRecord] {
        let directory = directory
        return try await offload {
            try StagingIO.list(directory).compactMap { name -> UploadRecord? in
                guard name.hasSuffix(".json"), let id = UploadID(String(name.dropLast(".json".count))) else { return nil }
                guard let record = try Self.load(id, in: directory), record.isExpired(at: now) else { return nil }
                return record
            }
        }
    }

    private static func path(_ id: UploadID, in directory: String) -> String { "\(directory)/\(id.rawValue).json" }

    private static func load(_ id: UploadID, in directory: String) throws -> UploadRecord? {
        let file: Descriptor
        do {
            file = try StagingIO.open(path(id, in: directory), flags: O_RDONLY)
        } catch StagingError.io(_, ENOENT) {
            return nil
        }
        let bytes = try StagingIO.io("read", try file.read(upTo: Int(try file.size), at: 0))
        do {
            return try JSONDecoder().decode(UploadRecord.self, from: Data(bytes))
        } catch {
            throw RegistryError.unreadable(id, "\(error)")
        }
    }

    /// Without `replacing`, link(2) refuses an existing name: taking the id and writing the record are one step.
    private static func write(_ record: UploadRecord, in directory: String, replacing: Bool) throws {
        let bytes = Array(try JSONEncoder().encode(record))
        do {
            try DurableFile.writeAtomically(path: path(record.id, in: directory), bytes: bytes, permissions: 0o600,
                                            replacing: replacing)
        } catch {
            throw StagingError(error)
        }
    }
}
