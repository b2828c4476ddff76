import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// A tus 1.0.0 server (core protocol with the creation, expiration, checksum and termination extensions) whose bytes
/// go to a `StagingStore` sealed with the key of the uploader's batch. Uploads are private to the owner that created
/// them: any other owner is told 404, exactly as for an id that never existed.
public struct TusServer<Context: RequestContext>: Sendable {
    public struct Configuration: Sendable {
        /// Where the routes live; upload URLs are this path followed by the id.
        public var basePath: String
        /// Tus-Max-Size: the largest Upload-Length accepted.
        public var maxSize: Int64
        /// How long an unfinished upload lives after its creation or its last PATCH.
        public var expiry: TimeInterval

        public init(basePath: String = "/uploads/", maxSize: Int64 = 16 << 30, expiry: TimeInterval = 24 * 3600) {
            self.basePath = basePath.hasSuffix("/") ? basePath : basePath + "/"
            self.maxSize = maxSize
            self.expiry = expiry
        }
    }

    public typealias Authorize = @Sendable (Request, Context) async throws -> UploadOwner?

    let configuration: Configuration
    let store: any StagingStore
    let registry: any UploadRegistry
    let authorize: Authorize
    let batchFor: @Sendable (UploadOwner, [MetadataEntry], Int64) async throws -> String
    let keyFor: @Sendable (String) async throws -> SymmetricKey
    let onComplete: @Sendable (UploadRecord, SHA256Digest?) async -> Void
    let unfinished: @Sendable (UploadOwner, String, Int64, [MetadataEntry]) async throws -> UploadID?
    let now: @Sendable () -> Date
    let logger: Logger
    let locks = UploadLocks()

    /// - Parameters:
    ///   - authorize: the request's owner, or nil for 401.
    ///   - batchFor: the batch a new upload of this owner with this `Upload-Metadata` and `Upload-Length` joins; it may throw
    ///     `UploadRefusal` to refuse the upload with its status.
    ///   - keyFor: the batch's staging key.
    ///   - onComplete: called once, when an upload's last byte is synced; with the SHA-256 of the whole upload when
    ///     the server saw every byte in the request that completed it (one PATCH from offset 0), so the caller need
    ///     not read the staged bytes back to check them.
    ///   - unfinished: an unfinished upload of this owner and batch that a new one with this length and metadata
    ///     would duplicate (the answer to its creation was lost): it is answered instead of creating another.
    ///   - now: the clock expiry is measured with.
    public init(configuration: Configuration = Configuration(), store: any StagingStore, registry: any UploadRegistry,
                authorize: @escaping Authorize,
                batchFor: @escaping @Sendable (UploadOwner, [MetadataEntry], Int64) async throws -> String,
                keyFor: @escaping @Sendable (String) async throws -> SymmetricKey,
                onComplete: @escaping @Sendable (UploadRecord, SHA256Digest?) async -> Void = { _, _ in },
                unfinished: @escaping @Sendable (UploadOwner, String, Int64, [MetadataEntry]) async throws -> UploadID? = { _, _, _, _ in nil },
                now: @escaping @Sendable () -> Date = Date.init,
                logger: Logger = Logger(label: "dicom-portal.uploads")) {
        self.configuration = configuration
        self.store = store
        self.registry = registry
        self.authorize = authorize
        self.batchFor = batchFor
        self.keyFor = keyFor
        self.onComplete = onComplete
        self.unfinished = unfinished
        self.now = now
        self.logger = logger
    }

    public func addRoutes(to router: Router<Context>) {
        let base = RouterPath(configuration.basePath)
        let upload = RouterPath(configuration.basePath + ":id")
        router.on(base, method: .options) { _, _ in options() }
        router.on(base, method: .post) { request, context in await respond { try await create(request, context) } }
        router.on(upload, method: .head) { request, context in await respond { try await head(request, context) } }
        router.on(upload, method: .patch) { request, context in await respond { try await patch(request, context) } }
        router.on(upload, method: .delete) { request, context in await respond { try await terminate(request, context) } }
    }

    /// Removes every unfinished upload past its expiry, and staged bytes whose record is gone (a removal that
    /// failed half-way); returns the ids removed. Uploads being written are left for the next sweep.
    @discardableResult
    public func expire() async throws -> [UploadID] {
        var removed: [UploadID] = []
        for record in try await registry.expired(at: now()) where locks.tryLock(record.id) {
            defer { locks.unlock(record.id) }
            try await registry.delete(record.id)
            try await store.remove(record.id)
            removed.append(record.id)
        }
        for id in try await store.list() where try await registry.get(id) == nil {
            try await store.remove(id)
            removed.append(id)
        }
        if !removed.isEmpty { logger.info("removed expired and orphaned uploads", metadata: ["count": "\(removed.count)"]) }
        return removed
    }

    // MARK: Requests

    private func options() -> Response {
        var headers = HTTPFields()
        headers[.tusResumable] = "1.0.0"
        headers[.tusVersion] = "1.0.0"
        headers[.tusExtension] = "creation,expiration,checksum,termination"
        headers[.tusMaxSize] = String(configuration.maxSize)
        headers[.tusChecksumAlgorithm] = ChunkChecksum.algorithms
        return Response(status: .noContent, headers: headers)
    }

    private func create(_ request: Request, _ context: Context) async throws -> Response {
        let owner = try await admit(request, context)
        if request.headers[.uploadDeferLength] != nil {
            throw TusFailure.badRequest("Upload-Defer-Length is not supported; send Upload-Length")
        }
        guard let lengthHeader = request.headers[.uploadLength] else {
            throw TusFailure.badRequest("Upload-Length is required")
        }
        guard let length = TusHeaders.count(lengthHeader) else { throw TusFailure.badRequest("Upload-Length is not a valid length") }
        guard length <= configuration.maxSize else {
            throw TusFailure(status: .contentTooLarge, reason: "Upload-Length exceeds Tus-Max-Size \(configuration.maxSize)")
        }
        var metadata: [MetadataEntry] = []
        if let header = request.headers[.uploadMetadata] {
            guard let parsed = TusHeaders.metadata(header) else { throw TusFailure.badRequest("Upload-Metadata is malformed") }
            metadata = parsed
        }

        let batch = try await batchFor(owner, metadata, length)
        if let id = try await unfinished(owner, batch, length, metadata), let existing = try await registry.get(id),
           existing.owner == owner, !existing.isComplete {
            logger.info("upload creation repeated; the unfinished upload answered", metadata: ["upload": "\(id)"])
            var headers = HTTPFields()
            headers[.location] = configuration.basePath + id.rawValue
            headers[.uploadExpires] = TusHeaders.httpDate(existing.expires)
            return Response(status: .created, headers: headers)
        }
        let key = try await keyFor(batch)
        let record = UploadRecord(id: .random(), batch: batch, owner: owner, length: length, metadata: metadata,
                                  expires: now().addingTimeInterval(configuration.expiry))
        // The record first: staged bytes without a record are then always leftovers the sweep may remove, and a
        // record without bytes is never seen (its Location has not been given out).
        try await registry.create(record)
        do {
            try await store.create(record.id, key: key)
        } catch {
            try? await registry.delete(record.id)
            throw error
        }
        logger.info("upload created", metadata: ["upload": "\(record.id)", "length": "\(length)"])
        if record.isComplete { await onComplete(record, SHA256.hash(data: [UInt8]())) }

        var headers = HTTPFields()
        headers[.location] = configuration.basePath + record.id.rawValue
        headers[.uploadExpires] = TusHeaders.httpDate(record.expires)
        return Response(status: .created, headers: headers)
    }

    private func head(_ request: Request, _ context: Context) async throws -> Response {
        let record = try await lookup(request, context)
        var headers = HTTPFields()
        headers[.uploadOffset] = String(record.offset)
        headers[.uploadLength] = String(record.length)
        if !record.metadata.isEmpty { headers[.uploadMetadata] = TusHeaders.metadataHeader(record.metadata) }
        if !record.isComplete { headers[.uploadExpires] = TusHeaders.httpDate(record.expires) }
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers)
    }

    private func patch(_ request: Request, _ context: Context) async throws -> Response {
        let found = try await lookup(request, context)
        guard request.headers[.contentType]?.lowercased() == "application/offset+octet-stream" else {
            throw TusFailure(status: .unsupportedMediaType, reason: "Content-Type must be application/offset+octet-stream")
        }
        guard let offset = TusHeaders.count(request.headers[.uploadOffset]) else {
            throw TusFailure.badRequest("Upload-Offset is required")
        }
        var checksum: ChunkChecksum?
        if let header = request.headers[.uploadChecksum] {
            do {
                checksum = try ChunkChecksum(header: header)
            } catch .unsupportedAlgorithm {
                throw TusFailure.badRequest("Upload-Checksum algorithm is not one of \(ChunkChecksum.algorithms)")
            } catch {
                throw TusFailure.badRequest("Upload-Checksum is malformed")
            }
        }

        guard locks.tryLock(found.id) else { throw TusFailure.busy }
        defer { locks.unlock(found.id) }
        // Read again under the lock: a PATCH that just finished has moved the offset.
        guard var record = try await registry.get(found.id) else { throw TusFailure.notFound }
        guard offset == record.offset else {
            var headers = HTTPFields()
            headers[.uploadOffset] = String(record.offset)
            throw TusFailure(status: .conflict, reason: "Upload-Offset \(offset) is not the upload's offset \(record.offset)",
                             headers: headers)
        }
        if let announced = TusHeaders.count(request.headers[.contentLength]), announced > record.length - offset {
            throw TusFailure(status: .contentTooLarge, reason: "the chunk goes past Upload-Length")
        }

        let key = try await keyFor(record.batch)
        let append: any StagedAppend
        do {
            append = try await store.beginAppend(record.id, key: key, at: offset)
        } catch StagingError.notFound where offset == 0 {
            // The record was made but the server stopped before its staged file was: nothing was acknowledged, so the
            // file is made now (otherwise every retry of this upload would fail the same way).
            logger.notice("an upload's staged file was never made (creation cut short); made now", metadata: ["upload": "\(record.id)"])
            try await store.create(record.id, key: key)
            append = try await store.beginAppend(record.id, key: key, at: offset)
        }
        var received: Int64 = 0
        // From offset 0 the upload's own digest comes along: the Upload-Checksum's when it is SHA-256, else our own.
        var whole: SHA256? = offset == 0 && checksum?.isSHA256 != true ? SHA256() : nil
        do {
            for try await chunk in request.body {
                received += Int64(chunk.readableBytes)
                guard received <= record.length - offset else {
                    throw TusFailure(status: .contentTooLarge, reason: "the chunk goes past Upload-Length")
                }
                chunk.withUnsafeReadableBytes {
                    checksum?.update($0)
                    whole?.update(bufferPointer: $0)
                }
                try await append.write(chunk)
            }
        } catch let failure as TusFailure {
            try await append.abort()
            throw failure
        } catch let error as StagingError {
            try? await append.abort()
            throw error
        } catch {
            // The connection broke mid-chunk. Without a checksum the bytes that arrived are kept (tus lets the
            // client resume after them); with one they cannot be verified and are dropped.
            var kept = offset
            if checksum == nil, received > 0, let committed = try? await append.commit(),
               let moved = try? await advance(record, to: committed) {
                kept = moved.offset
            } else {
                try? await append.abort()
            }
            logger.info("the request body ended early", metadata: ["upload": "\(record.id)", "offset": "\(kept)"])
            throw TusFailure.badRequest("the request body ended early; resume at offset \(kept)")
        }
        if let checksum, !checksum.matches {
            try await append.abort()
            throw TusFailure.checksumMismatch
        }
        let committed: Int64
        do {
            committed = try await append.commit()
        } catch {
            try? await append.abort()
            throw error
        }
        let digest = offset == 0 ? (checksum?.sha256 ?? whole?.finalize()) : nil
        record = try await advance(record, to: committed, digest: digest)

        var headers = HTTPFields()
        headers[.uploadOffset] = String(record.offset)
        if !record.isComplete { headers[.uploadExpires] = TusHeaders.httpDate(record.expires) }
        return Response(status: .noContent, headers: headers)
    }

    /// Records synced bytes; the upload's completion is announced once, by the chunk that completes it.
    /// `digest`: the SHA-256 of every byte from offset 0 to `committed`, when known.
    private func advance(_ record: UploadRecord, to committed: Int64, digest: SHA256Digest? = nil) async throws -> UploadRecord {
        var moved = record
        moved.offset = committed
        moved.expires = now().addingTimeInterval(configuration.expiry)
        try await registry.setOffset(moved.id, offset: moved.offset, expires: moved.expires)
        logger.debug("chunk stored", metadata: ["upload": "\(moved.id)", "offset": "\(moved.offset)"])
        if moved.isComplete && !record.isComplete {
            logger.info("upload complete", metadata: ["upload": "\(moved.id)", "length": "\(moved.length)"])
            await onComplete(moved, digest)
        }
        return moved
    }

    private func terminate(_ request: Request, _ context: Context) async throws -> Response {
        let record = try await lookup(request, context)
        guard locks.tryLock(record.id) else { throw TusFailure.busy }
        defer { locks.unlock(record.id) }
        // The record goes first: bytes without a record are unreachable, a record without bytes would answer HEAD.
        try await registry.delete(record.id)
        try await store.remove(record.id)
        logger.info("upload terminated", metadata: ["upload": "\(record.id)"])
        return Response(status: .noContent)
    }

    // MARK: Checks shared by the requests

    /// The version check, then the owner.
    private func admit(_ request: Request, _ context: Context) async throws -> UploadOwner {
        guard request.headers[.tusResumable] == "1.0.0" else {
            var headers = HTTPFields()
            headers[.tusVersion] = "1.0.0"
            throw TusFailure(status: .preconditionFailed, reason: "Tus-Resumable 1.0.0 is required", headers: headers)
        }
        guard let owner = try await authorize(request, context) else {
            throw TusFailure(status: .unauthorized, reason: "not signed in")
        }
        return owner
    }

    /// The upload the URL names, if it is the requester's and still alive.
    private func lookup(_ request: Request, _ context: Context) async throws -> UploadRecord {
        let owner = try await admit(request, context)
        guard let raw = context.parameters.get("id"), let id = UploadID(raw),
              let record = try await registry.get(id), record.owner == owner
        else { throw TusFailure.notFound }
        if record.isExpired(at: now()) { throw TusFailure.gone }
        return record
    }

    /// Every answer carries Tus-Resumable; refusals carry their reason as text.
    private func respond(_ handler: () async throws -> Response) async -> Response {
        var response: Response
        do {
            response = try await handler()
        } catch let failure as TusFailure {
            response = failureResponse(failure)
        } catch let refusal as UploadRefusal {
            response = failureResponse(TusFailure(status: refusal.status, reason: refusal.reason))
        } catch StagingError.storageFull {
            logger.error("staging storage is full; a chunk was refused")
            response = failureResponse(.storageFull)
        } catch {
            logger.error("upload request failed", metadata: ["error": "\(error)"])
            response = failureResponse(TusFailure(status: .internalServerError, reason: "the upload could not be stored"))
        }
        response.headers[.tusResumable] = "1.0.0"
        return response
    }

    private func failureResponse(_ failure: TusFailure) -> Response {
        var headers = failure.headers
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: failure.status, headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(string: failure.reason + "\n")))
    }
}
