import Crypto
import NIOCore

/// Where upload bytes wait, encrypted, until the pipeline takes them. Offsets and sizes count plaintext bytes.
/// Every upload is sealed with the key of the batch it belongs to; the caller supplies that key on each call so the
/// store never holds keys itself.
public protocol StagingStore: Sendable {
    /// Makes an empty upload, durable (the entry in its directory synced) before returning.
    func create(_ id: UploadID, key: SymmetricKey) async throws

    /// Starts appending at `offset`, which must be a size the store has committed. Staged bytes past `offset`
    /// (a chunk that was written but never acknowledged, or a segment torn by a crash) are cut off first.
    func beginAppend(_ id: UploadID, key: SymmetricKey, at offset: Int64) async throws -> any StagedAppend

    /// The committed plaintext size, after cutting a torn last segment back to the last whole one.
    func size(_ id: UploadID) async throws -> Int64

    /// The first `length` plaintext bytes in order (the length the registry recorded, so a staged file cut short
    /// is an error, not a shorter upload); every segment's tag is verified before its bytes are handed out.
    func read(_ id: UploadID, key: SymmetricKey, length: Int64) async throws -> AsyncThrowingStream<ByteBuffer, any Error>

    /// Removes the upload's bytes; removing one that does not exist is not an error.
    func remove(_ id: UploadID) async throws

    /// Every upload the store holds, for sweeps that reconcile it with the registry.
    func list() async throws -> [UploadID]
}

/// One append in progress. Nothing written is acknowledged until `commit` returns; `abort` puts the upload back
/// to where the append began.
public protocol StagedAppend: Sendable {
    func write(_ bytes: ByteBuffer) async throws
    /// Seals what is pending, syncs the file and returns the new committed size.
    func commit() async throws -> Int64
    func abort() async throws
}

public enum StagingError: Error, Equatable, CustomStringConvertible {
    case notFound(UploadID)
    case alreadyExists(UploadID)
    /// The file system has no room (ENOSPC or EDQUOT); nothing from the failed append is kept.
    case storageFull
    /// A segment failed authentication or the file's structure is broken: tampering or corruption, never a crash.
    case corrupt(UploadID, String)
    /// The caller asked to append at an offset the store does not hold as a segment boundary.
    case offsetMismatch(UploadID, expected: Int64, stored: Int64)
    case io(String, errno: Int32)

    public var description: String {
        switch self {
        case .notFound(let id): "staged upload \(id) does not exist"
        case .alreadyExists(let id): "staged upload \(id) already exists"
        case .storageFull: "the staging storage is full"
        case .corrupt(let id, let why): "staged upload \(id) is corrupt: \(why)"
        case .offsetMismatch(let id, let expected, let stored):
            "staged upload \(id) holds \(stored) bytes where \(expected) were expected"
        case .io(let what, let errno): "staging I/O failed: \(what) (errno \(errno))"
        }
    }
}
