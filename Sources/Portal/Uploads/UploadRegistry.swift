import Foundation

/// Upload metadata, kept apart from the bytes so core can later hold it in PostgreSQL.
public protocol UploadRegistry: Sendable {
    /// Fails with `RegistryError.alreadyExists` when the id is taken.
    func create(_ record: UploadRecord) async throws
    func get(_ id: UploadID) async throws -> UploadRecord?
    /// Fails with `RegistryError.notFound` when the upload is gone (terminated or expired meanwhile).
    func setOffset(_ id: UploadID, offset: Int64, expires: Date) async throws
    /// Deleting an upload that does not exist is not an error.
    func delete(_ id: UploadID) async throws
    /// Unfinished uploads whose expiry is at or before `now`.
    func expired(at now: Date) async throws -> [UploadRecord]
}

public enum RegistryError: Error, Equatable, CustomStringConvertible {
    case alreadyExists(UploadID)
    case notFound(UploadID)
    case unreadable(UploadID, String)

    public var description: String {
        switch self {
        case .alreadyExists(let id): "upload \(id) is already registered"
        case .notFound(let id): "upload \(id) is not registered"
        case .unreadable(let id, let why): "the record of upload \(id) is unreadable: \(why)"
        }
    }
}
