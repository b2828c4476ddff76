import WebSecurity
import PortalProtocol
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Uploads

/// A signed-in patient's batches ("discs"): create, list, look at, abandon, submit; and the tus server their files go
/// through, each upload private to the patient who made it and counted against their quota.
struct BatchesAPI: Sendable {
    let store: EdgeStore
    let staging: any StagingStore
    let settings: EdgeServer.Settings
    let logger: Logger
    let now: @Sendable () -> Date

    func addRoutes(to router: Router<EdgeRequestContext>) {
        router.post("/api/batches") { request, context in try await create(request, context) }
        router.get("/api/batches") { _, context in try await list(context) }
        router.get("/api/batches/:id") { _, context in try await show(context) }
        router.delete("/api/batches/:id") { _, context in try await abandon(context) }
        router.post("/api/batches/:id/submit") { request, context in try await submit(request, context) }
    }

    /// The tus server for `/uploads/`: the owner is the signed-in patient; metadata `batch` must name one of their
    /// open batches; the quota counts what they have open.
    func tusServer() -> TusServer<EdgeRequestContext> {
        let store = store, quota = settings.quota, staging = staging, logger = logger, now = now
        return TusServer<EdgeRequestContext>(
            configuration: .init(basePath: "/uploads/", maxSize: settings.quota.maxBytes, expiry: settings.uploadExpiry),
            store: staging, registry: EdgeUploadRegistry(store: store),
            authorize: { _, context in
                guard let session = context.session, session.state == .signedIn, let ref = session.patient else { return nil }
                return UploadOwner("patient:" + ref)
            },
            batchFor: { owner, metadata, length in
                let ref = String(owner.id.dropFirst("patient:".count))
                guard let batch = metadata.first(where: { $0.key == "batch" })?.value.flatMap({ String(data: $0, encoding: .utf8) }),
                      let id = UUID(uuidString: batch) else {
                    throw UploadRefusal(status: .badRequest, reason: "Upload-Metadata must name the batch")
                }
                guard let name = metadata.first(where: { $0.key == "name" })?.value, !name.isEmpty, name.count <= 4096 else {
                    throw UploadRefusal(status: .badRequest, reason: "Upload-Metadata must name the file")
                }
                switch try await store.admitUpload(patient: ref, batch: id.uuidString.lowercased(), length: length, quota: quota) {
                case .admitted: return id.uuidString.lowercased()
                case .noBatch: throw UploadRefusal(status: .notFound, reason: "no such batch")
                case .closed: throw UploadRefusal(status: .conflict, reason: "batch.closed")
                case .files: throw UploadRefusal(status: .contentTooLarge, reason: "quota.files")
                case .bytes: throw UploadRefusal(status: .contentTooLarge, reason: "quota.bytes")
                case .openUploads: throw UploadRefusal(status: .tooManyRequests, reason: "quota.uploads")
                }
            },
            keyFor: { batch in try await store.stagingKey(batch: batch) },
            onComplete: { record, digest in
                store.metrics.uploadCompleted(bytes: record.length)
                await Self.recordDigest(record, digest: digest, store: store, staging: staging, logger: logger)
            },
            unfinished: { owner, batch, length, metadata in
                guard let name = metadata.first(where: { $0.key == "name" })?.value.flatMap({ String(data: $0, encoding: .utf8) }) else {
                    return nil
                }
                return try await store.emptyUpload(owner: owner.id, batch: batch, name: name, length: length, now: now())
            },
            logger: logger)
    }

    /// Keeps the SHA-256 of a complete upload for the link (core checks what it receives against it). When the
    /// server saw the whole upload in one request it already has it; otherwise the staged bytes are read back.
    static func recordDigest(_ record: UploadRecord, digest: SHA256Digest?, store: EdgeStore, staging: any StagingStore, logger: Logger) async {
        do {
            var hash: SHA256Digest
            if let digest {
                hash = digest
            } else {
                var hasher = SHA256()
                for try await chunk in try await staging.read(record.id, key: try await store.stagingKey(batch: record.batch), length: record.length) {
                    chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                }
                hash = hasher.finalize()
            }
            try await store.setUploadDigest(record.id, sha256: Hex.encode(hash))
        } catch {
            logger.error("could not digest a completed upload; the patient's submit waits for it", metadata: ["upload": "\(record.id)", "error": "\(error)"])
        }
    }

    private func patient(_ context: EdgeRequestContext) throws(APIError) -> (EdgeSession, String) {
        guard let session = context.session, session.state == .signedIn, let ref = session.patient else { throw APIError.signedOut }
        return (session, ref)
    }

    private func batchID(_ context: EdgeRequestContext) throws(APIError) -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw APIError.batchNotFound }
        return id
    }

    /// The batch, if it is this patient's; another patient's batch answers exactly as one that does not exist.
    private func owned(_ id: UUID, _ ref: String) async throws -> EdgeBatch {
        guard let batch = try await store.batch(id), batch.patient == ref else { throw APIError.batchNotFound }
        return batch
    }

    private func create(_ request: Request, _ context: EdgeRequestContext) async throws -> Response {
        let (_, ref) = try patient(context)
        let body = try await JSONBody.object(request)
        let label = (body["label"] as? String).map { String($0.prefix(200)) }
        let open = try await store.batches(patient: ref).filter { $0.state == .open }.count
        guard open < 5 else {
            throw APIError(.tooManyRequests, "quota.uploads", "You have several unfinished uploads. Finish or cancel one of them first (on your home page).")
        }
        let batch = try await store.createBatch(patient: ref, label: label, now: now())
        try await store.record("batch.created", patient: ref, address: context.address, detail: ["batch": batch.id.uuidString.lowercased()], now: now())
        return JSONBody.response(["id": batch.id.uuidString.lowercased(), "state": batch.state.rawValue], status: .created)
    }

    private func list(_ context: EdgeRequestContext) async throws -> Response {
        let (_, ref) = try patient(context)
        let batches = try await store.batches(patient: ref).map(summary)
        return JSONBody.response(["batches": batches])
    }

    private func summary(_ batch: EdgeBatch) -> [String: Any] {
        [
            "id": batch.id.uuidString.lowercased(), "state": batch.state.rawValue, "label": batch.label ?? NSNull(),
            "createdAt": ISO8601DateFormatter().string(from: batch.createdAt),
            "submittedAt": batch.submittedAt.map { ISO8601DateFormatter().string(from: $0) } ?? NSNull(),
            "files": batch.files, "bytes": batch.bytes,
        ]
    }

    private func show(_ context: EdgeRequestContext) async throws -> Response {
        let (_, ref) = try patient(context)
        let batch = try await owned(try batchID(context), ref)
        var object = summary(batch)
        object["uploads"] = try await store.uploads(batch: batch.id).map {
            ["id": $0.id.rawValue, "name": $0.name, "length": $0.length, "offset": $0.offset, "complete": $0.sha256 != nil] as [String: Any]
        }
        object["result"] = batch.result.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? NSNull()
        return JSONBody.response(object)
    }

    private func abandon(_ context: EdgeRequestContext) async throws -> Response {
        let (_, ref) = try patient(context)
        let id = try batchID(context)
        _ = try await owned(id, ref)
        guard let uploads = try await store.abandon(batch: id, patient: ref) else {
            throw APIError(.conflict, "batch.closed", "This upload was already sent to the hospital and cannot be cancelled here.")
        }
        for upload in uploads { try? await staging.remove(upload) }
        try await store.record("batch.abandoned", patient: ref, address: context.address, detail: ["batch": id.uuidString.lowercased()], now: now())
        return Response(status: .noContent)
    }

    private func submit(_ request: Request, _ context: EdgeRequestContext) async throws -> Response {
        let (session, ref) = try patient(context)
        let id = try batchID(context)
        _ = try await owned(id, ref)
        guard let stepUp = session.stepUpAt, now().timeIntervalSince(stepUp) <= AccountsAPI.stepUpValidity else { throw APIError.stepUpRequired }
        let body = try await JSONBody.object(request)
        guard body["consent"] as? Bool == true else {
            throw APIError(.badRequest, "consent.required", "Please tick the box to confirm you agree to send these images to the hospital.")
        }
        let summary = (body["summary"] as? [String: Any]) ?? [:]
        let summaryJSON = String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self)
        switch try await store.submit(batch: id, patient: ref, summary: summaryJSON, now: now()) {
        case nil:
            try await store.record("batch.submitted", patient: ref, address: context.address, detail: ["batch": id.uuidString.lowercased()], now: now())
            return JSONBody.response(["state": EdgeBatch.State.submitted.rawValue])
        case .notFound: throw APIError.batchNotFound
        case .closed: throw APIError(.conflict, "batch.closed", "This upload was already sent.")
        case .empty: throw APIError(.conflict, "batch.empty", "Nothing was uploaded yet. Choose the images to send first.")
        case .incomplete: throw APIError(.conflict, "batch.incomplete", "Some files have not finished uploading. Wait until every file is sent, then try again.")
        }
    }
}
