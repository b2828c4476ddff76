import WebSecurity
import PortalProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Uploads

/// What core asks of the edge over the link (mutual TLS, connections opened by core only): it pushes patients,
/// invitations, unlocks and results, and pulls submitted batches, their bytes and the edge's security events.
/// Bodies are JSON; binary values are lowercase hex.
struct LinkAPI: Sendable {
    let store: EdgeStore
    let staging: any StagingStore
    let logger: Logger
    let now: @Sendable () -> Date

    static let contentSHA256 = HTTPField.Name("X-Content-SHA256")!

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.put("/link/v1/patients/:ref") { request, context in try await guarded { try await putPatient(request, context) } }
        router.post("/link/v1/patients/:ref/unlock") { _, context in try await guarded { try await unlock(context) } }
        router.post("/link/v1/patients/:ref/reset-second-factor") { _, context in try await guarded { try await resetSecondFactor(context) } }
        router.get("/link/v1/batches") { request, _ in try await guarded { try await submitted(request) } }
        router.get("/link/v1/batches/:id/uploads/:upload") { _, context in try await guarded { try await upload(context) } }
        router.post("/link/v1/batches/:id/received") { _, context in try await guarded { try await received(context) } }
        router.put("/link/v1/batches/:id/result") { request, context in try await guarded { try await result(request, context) } }
        router.get("/link/v1/events") { request, _ in try await guarded { try await events(request) } }
        router.get("/link/v1/health") { _, _ in JSONBody.response(["status": "ok"]) }
    }

    private func guarded(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let error as APIError { return error.response }
    }

    private func ref(_ context: BasicRequestContext) throws(APIError) -> String {
        guard let ref = context.parameters.get("ref"), !ref.isEmpty, ref.utf8.count <= 64,
              ref.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { throw APIError.badRequest("the patient reference must be decimal digits") }
        return ref
    }

    private func batchID(_ context: BasicRequestContext) throws(APIError) -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw APIError.batchNotFound }
        return id
    }

    private func putPatient(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let ref = try ref(context)
        let body = try await JSONBody.object(request)
        let name = try body.string("name", max: 320)
        let birthDate = try body.string("birthDate", max: 8)
        guard birthDate.utf8.count == 8, birthDate.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw APIError.badRequest("birthDate must be YYYYMMDD")
        }
        let email = body["email"] as? String
        var invitation: (digest: [UInt8], expiresAt: Date)?
        if let pending = body["invitation"] as? [String: Any] {
            guard let hex = pending["tokenSHA256"] as? String, let digest = Hex.decode(hex).map(Array.init), digest.count == 32,
                  let expiresText = pending["expiresAt"] as? String, let expires = ISO8601DateFormatter().date(from: expiresText) else {
                throw APIError.badRequest("invitation needs tokenSHA256 (64 hex digits) and expiresAt (ISO 8601)")
            }
            invitation = (digest, expires)
        }
        // Core names the one invitation that may still work (null: none); absent, pending invitations are left as they are.
        var live: [UInt8]??
        if let value = body["liveInvitation"] {
            if value is NSNull {
                live = .some(nil)
            } else if let hex = value as? String, let digest = Hex.decode(hex).map(Array.init), digest.count == 32 {
                live = .some(digest)
            } else {
                throw APIError.badRequest("liveInvitation must be null or 64 hex digits")
            }
        }
        do {
            try await store.upsertPatient(ref: ref, name: name, birthDate: birthDate, email: email, invitation: invitation, now: now())
        } catch LinkRefusal.emailTaken {
            throw APIError(.conflict, "email.taken", "another patient signs in with this e-mail address")
        }
        try await store.record(invitation == nil ? "patient.updated" : "patient.invited", patient: ref, address: nil, now: now())
        if let live, try await store.voidInvitations(ref: ref, except: live, now: now()) > 0 {
            try await store.record("invitation.revoked", patient: ref, address: nil, now: now())
        }
        return Response(status: .noContent)
    }

    private func resetSecondFactor(_ context: BasicRequestContext) async throws -> Response {
        let ref = try ref(context)
        // A patient the edge never had has no second factor to remove: done all the same.
        if try await store.resetSecondFactor(ref: ref) {
            try await store.record("account.second-factor-reset", patient: ref, address: nil, detail: ["by": "staff"], now: now())
        }
        return Response(status: .noContent)
    }

    private func unlock(_ context: BasicRequestContext) async throws -> Response {
        let ref = try ref(context)
        guard try await store.unlock(ref: ref) else { throw APIError(.notFound, "not-found", "no such patient") }
        try await store.record("account.unlocked", patient: ref, address: nil, detail: ["by": "staff"], now: now())
        return Response(status: .noContent)
    }

    private func submitted(_ request: Request) async throws -> Response {
        let state = request.uri.queryParameters.get("state").flatMap(EdgeBatch.State.init) ?? .submitted
        var batches: [[String: Any]] = []
        for batch in try await store.batches(state: state) {
            let uploads = try await store.uploads(batch: batch.id).map {
                ["id": $0.id.rawValue, "name": $0.name, "length": $0.length, "sha256": $0.sha256 ?? NSNull()] as [String: Any]
            }
            batches.append([
                "id": batch.id.uuidString.lowercased(), "patient": batch.patient, "label": batch.label ?? NSNull(),
                "submittedAt": batch.submittedAt.map { ISO8601DateFormatter().string(from: $0) } ?? NSNull(),
                "summary": batch.summary.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? NSNull(),
                "uploads": uploads,
            ])
        }
        return JSONBody.response(["batches": batches])
    }

    private func upload(_ context: BasicRequestContext) async throws -> Response {
        let id = try batchID(context)
        guard let uploadID = context.parameters.get("upload").flatMap(UploadID.init),
              let upload = try await store.upload(uploadID, batch: id), upload.offset == upload.length else {
            throw APIError(.notFound, "not-found", "no such complete upload in this batch")
        }
        let key = try await store.stagingKey(batch: id.uuidString.lowercased())
        let bytes = try await staging.read(uploadID, key: key, length: upload.length)
        var headers: HTTPFields = [.contentType: "application/octet-stream", .contentLength: String(upload.length)]
        if let sha256 = upload.sha256 { headers[Self.contentSHA256] = sha256 }
        return Response(status: .ok, headers: headers, body: ResponseBody(asyncSequence: bytes))
    }

    private func received(_ context: BasicRequestContext) async throws -> Response {
        let id = try batchID(context)
        let (found, uploads) = try await store.markReceived(batch: id, now: now())
        guard found else { throw APIError.batchNotFound }
        // Core holds the bytes now: the edge keeps none longer than it must.
        for upload in uploads { try? await staging.remove(upload) }
        if let batch = try await store.batch(id) {
            try await store.record("batch.received", patient: batch.patient, address: nil, detail: ["batch": id.uuidString.lowercased()], now: now())
        }
        return Response(status: .noContent)
    }

    private func result(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try batchID(context)
        let body = try await JSONBody.object(request)
        guard let stateText = body["state"] as? String, let state = EdgeBatch.State(rawValue: stateText),
              [.delivered, .held, .failed].contains(state) else {
            throw APIError.badRequest("state must be delivered, held or failed")
        }
        var result = body
        result.removeValue(forKey: "state")
        let json = String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self)
        guard try await store.storeResult(batch: id, state: state, result: json, now: now()) else { throw APIError.batchNotFound }
        return Response(status: .noContent)
    }

    private func events(_ request: Request) async throws -> Response {
        let after = request.uri.queryParameters.get("after").flatMap(Int64.init) ?? 0
        let limit = min(max(request.uri.queryParameters.get("limit").flatMap(Int.init) ?? 500, 1), 1000)
        let events = try await store.events(after: after, limit: limit)
        try await store.pruneEvents(takenUpTo: after, olderThan: 7 * 86_400, now: now())
        let formatter = ISO8601DateFormatter()
        return JSONBody.response([
            "events": events.map { event -> [String: Any] in
                ["seq": event.seq, "at": formatter.string(from: event.at), "type": event.type, "patient": event.patient ?? NSNull(),
                 "address": event.address ?? NSNull(), "detail": event.detail]
            },
            "last": events.last?.seq ?? after,
        ])
    }
}
