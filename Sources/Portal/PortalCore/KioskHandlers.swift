import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat
import PortalProtocol
import PortalStore
import Uploads

/// What core does for a kiosk: the tus server's batch, key and completion closures, and the manifest, status and
/// health routes. Logs name kiosks, sessions, batches and uploads, never metadata values (file names, UIDs).
struct KioskHandlers: Sendable {
    let batches: BatchStore
    let store: any StagingStore
    let audit: AuditLog
    let database: PortalDatabase
    let manifestLimit: Int
    let logger: Logger

    func addRoutes(to router: Router<KioskRequestContext>) {
        router.get("/healthz") { _, _ in await health() }
        router.put(RouterPath(KioskAPI.manifestRoute)) { request, context in
            try await answering { try await putManifest(request, context) }
        }
        router.get(RouterPath(KioskAPI.statusRoute)) { _, context in
            try await answering { try await status(context) }
        }
    }

    // MARK: Tus closures

    /// The kiosk's session batch named by the upload's metadata; the instance keys are required too, since an upload
    /// without them could never count towards the manifest.
    func batch(for owner: UploadOwner, metadata: [MetadataEntry]) async throws -> String {
        guard owner.id.hasPrefix(KioskPeer.ownerPrefix) else { throw UploadRefusal(status: .forbidden, reason: "not a kiosk") }
        let kiosk = String(owner.id.dropFirst(KioskPeer.ownerPrefix.count))
        guard let session = PostgresUploadRegistry.text(metadata, KioskAPI.Metadata.session), KioskSessionID.isValid(session) else {
            throw UploadRefusal(status: .badRequest, reason: "Upload-Metadata must name the kiosk session (1-64 of A-Z a-z 0-9 - _ .)")
        }
        guard let uid = PostgresUploadRegistry.text(metadata, KioskAPI.Metadata.sopInstanceUID), (1...64).contains(uid.utf8.count) else {
            throw UploadRefusal(status: .badRequest, reason: "Upload-Metadata must carry the instance's SOP Instance UID")
        }
        guard let sha256 = PostgresUploadRegistry.text(metadata, KioskAPI.Metadata.sha256), Self.isSHA256Hex(sha256) else {
            throw UploadRefusal(status: .badRequest, reason: "Upload-Metadata must carry the instance's sha256 (64 lower-case hex digits)")
        }
        let batch = try await batches.kioskBatch(kiosk: kiosk, session: session)
        // A committed batch is what the worker protects: nothing joins it afterwards.
        guard batch.state == "open" else {
            throw UploadRefusal(status: .conflict, reason: "the session's batch is already committed")
        }
        return batch.id.uuidString.lowercased()
    }

    /// A kiosk that lost core's answer to a creation (core or the network cut) asks again for the same instance: the
    /// unfinished upload it created is answered, so each instance stays one upload.
    func unfinishedUpload(owner: UploadOwner, batch: String, length: Int64, metadata: [MetadataEntry]) async throws -> UploadID? {
        guard let uid = PostgresUploadRegistry.text(metadata, KioskAPI.Metadata.sopInstanceUID),
              let sha256 = PostgresUploadRegistry.text(metadata, KioskAPI.Metadata.sha256) else { return nil }
        let rows = try await database.client.query("""
            SELECT id FROM uploads
            WHERE batch = \(try PostgresUploadRegistry.batchID(batch)) AND owner = \(owner.id) AND sop_instance_uid = \(uid)
              AND sha256 = \(sha256) AND length = \(length) AND state = 'receiving' AND expires_at > now()
            ORDER BY created_at LIMIT 1
            """, logger: logger)
        for try await id in rows.decode(String.self) { return UploadID(id) }
        return nil
    }

    func stagingKey(_ batch: String) async throws -> SymmetricKey {
        guard let found = try await batches.batch(try PostgresUploadRegistry.batchID(batch)) else {
            throw BatchError.notFound(try PostgresUploadRegistry.batchID(batch))
        }
        return SymmetricKey(data: found.stagingKey)
    }

    /// Checks the completed bytes against the sha256 the kiosk announced (refusing the upload when they differ), then
    /// the commit rule. A failure here leaves the batch open; the next completion or manifest replay checks again.
    /// `digest`: the upload's SHA-256 as the server received it, when one request carried it all; otherwise the
    /// staged bytes are read back.
    func uploadCompleted(_ record: UploadRecord, digest: SHA256Digest?) async {
        do {
            guard let batch = UUID(uuidString: record.batch) else { return }
            guard try await bytesMatchAnnouncedDigest(record, received: digest) else {
                try await refuse(record, batch: batch)
                return
            }
            try await batches.commitIfComplete(batch: batch, actor: record.owner.id)
        } catch {
            logger.error("checking a completed upload failed", metadata: ["upload": "\(record.id)", "error": "\(error)"])
        }
    }

    private func bytesMatchAnnouncedDigest(_ record: UploadRecord, received: SHA256Digest?) async throws -> Bool {
        guard let announced = PostgresUploadRegistry.text(record.metadata, KioskAPI.Metadata.sha256) else { return false }
        if let received { return Hex.encode(received) == announced.lowercased() }
        var hash = SHA256()
        for try await chunk in try await store.read(record.id, key: try await stagingKey(record.batch), length: record.length) {
            chunk.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
        }
        return Hex.encode(hash.finalize()) == announced.lowercased()
    }

    /// The kiosk finds the upload gone (404 on HEAD) and sends the instance again.
    private func refuse(_ record: UploadRecord, batch: UUID) async throws {
        logger.warning("a completed upload does not match its announced sha256; removed", metadata: ["upload": "\(record.id)"])
        try await PostgresUploadRegistry(database, logger: logger).delete(record.id)
        try await store.remove(record.id)
        try await audit.append(eventType: AuditEvent.uploadRefused, actor: record.owner.id, detail: [
            "upload": .string(record.id.rawValue), "batch": .string(batch.uuidString.lowercased()),
            "reason": .string("the bytes do not match the announced sha256"),
        ])
    }

    // MARK: Routes

    private func putManifest(_ request: Request, _ context: KioskRequestContext) async throws -> Response {
        let peer = try kiosk(context)
        let session = try session(context)
        let body = Data(buffer: try await request.body.collect(upTo: manifestLimit))
        // The signature first: nothing of an unattributable body is looked at.
        do {
            try ManifestSignature.verify(body, signature: request.headers[signatureField] ?? "", publicKey: peer.publicKey)
        } catch {
            return text(.forbidden, "\(ManifestError.badSignature)")
        }
        let manifest: KioskManifest
        do {
            manifest = try KioskManifest.decode(body, limit: manifestLimit)
        } catch .tooLarge(let limit) {
            return text(.contentTooLarge, "\(ManifestError.tooLarge(limit))")
        } catch {
            return text(.badRequest, "\(error)")
        }
        guard manifest.kiosk == peer.identity.name else {
            return text(.forbidden, "the manifest names another kiosk than the certificate that sent it")
        }
        guard manifest.session == session else { return text(.badRequest, "the manifest is for another session than its path") }

        let batch = try await batches.kioskBatch(kiosk: peer.identity.name, session: session)
        let instances = manifest.instances.map { ManifestInstance(sopInstanceUID: $0.sopInstanceUID, sha256: $0.sha256) }
        let stored = try await batches.storeManifest(batch: batch.id, manifest: body, signature: request.headers[signatureField] ?? "",
                                                     instances: instances, actor: peer.owner.id)
        switch stored {
        case .conflict:
            return text(.conflict, "a different manifest is already stored for this session")
        case .stored, .alreadyStored:
            // Before the commit: the worker's summary, recorded once the batch is protected, joins the desk's row.
            await recordAnalytics(manifest, batch: batch.id)
            logger.info("kiosk manifest \(stored == .stored ? "stored" : "replayed")", metadata: [
                "kiosk": "\(peer.identity.name)", "session": "\(session)", "instances": "\(instances.count)",
            ])
            await recordTrail(manifest, batch: batch.id)
            // A replay checks again too: the commit a crash interrupted happens on the kiosk's retry.
            try await batches.commitIfComplete(batch: batch.id, actor: peer.owner.id)
            return text(stored == .stored ? .created : .ok, stored == .stored ? "stored" : "already stored")
        }
    }

    /// Checks the session's trail segment against the kiosk's pinned audit key (once per batch; a replay finds the
    /// verdict made). A failure to record is logged and never refuses the manifest: the batch is protected again
    /// anyway, and the kiosk's retry records it.
    private func recordTrail(_ manifest: KioskManifest, batch: UUID) async {
        do {
            let verdict = try await KioskTrails(database).record(batch: batch, kiosk: manifest.kiosk, trail: manifest.trail,
                                                                 auditKey: manifest.auditKey)
            if verdict.outcome == .failed {
                logger.warning("a kiosk's audit trail segment does not verify", metadata: [
                    "kiosk": "\(manifest.kiosk)", "batch": "\(batch)", "problem": "\(verdict.problem ?? "")",
                ])
            }
        } catch {
            logger.error("recording a kiosk's audit trail segment failed", metadata: ["batch": "\(batch)", "error": "\(error)"])
        }
    }

    /// The kiosk's own summary of the session (no patient data) for fleet analytics. Analytics are not the record:
    /// a summary that cannot be kept is logged, and the manifest is stored all the same.
    private func recordAnalytics(_ manifest: KioskManifest, batch: UUID) async {
        guard let analytics = manifest.analytics else { return }
        do {
            try await SessionSummaries(database).recordKiosk(batch: batch, analytics: analytics.json)
        } catch {
            logger.warning("the kiosk's session summary was not kept", metadata: [
                "kiosk": "\(manifest.kiosk)", "session": "\(manifest.session)", "error": "\(error)",
            ])
        }
    }

    private func status(_ context: KioskRequestContext) async throws -> Response {
        let peer = try kiosk(context)
        let session = try session(context)
        guard let batch = try await batches.findKioskBatch(kiosk: peer.identity.name, session: session),
              let progress = try await batches.progress(batch: batch.id)
        else { return text(.notFound, "no upload or manifest of this session") }
        let status = KioskBatchStatus(state: progress.state, expected: progress.expected, received: progress.received)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(data: try JSONEncoder().encode(status))))
    }

    private func health() async -> Response {
        do {
            _ = try await withDeadline(.seconds(3)) { try await database.client.query("SELECT 1", logger: logger) }
            return text(.ok, "ok")
        } catch {
            logger.warning("health check: the database does not answer", metadata: ["error": "\(error)"])
            return text(.serviceUnavailable, "database unavailable")
        }
    }

    // MARK: Helpers

    private var signatureField: HTTPField.Name { HTTPField.Name(KioskAPI.signatureHeader)! }

    private func kiosk(_ context: KioskRequestContext) throws -> KioskPeer {
        guard let peer = context.kiosk else { throw HTTPError(.unauthorized, message: "no verified kiosk certificate") }
        return peer
    }

    private func session(_ context: KioskRequestContext) throws -> String {
        guard let session = context.parameters.get("session"), KioskSessionID.isValid(session) else {
            throw HTTPError(.badRequest, message: "the session ID is not 1-64 of A-Z a-z 0-9 - _ .")
        }
        return session
    }

    /// Database failures are logged here, at error, and answered 500 without detail.
    private func answering(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as HTTPError {
            throw error
        } catch {
            logger.error("kiosk request failed", metadata: ["error": "\(error)"])
            return text(.internalServerError, "the request could not be completed")
        }
    }

    private func text(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }

    static func isSHA256Hex(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
