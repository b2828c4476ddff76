import Foundation
import Hummingbird
import Logging
import PortalStore
import WebSecurity

/// The review queue: held batches with why they are held, one opened beside its expected patient, and the decisions
/// (approve, reject, reassign), each with a reason. Reading needs `.viewReview`; deciding needs `.review`.
///
/// - `GET /api/review?source=portal|kiosk&reason=<ReviewReason>` → `{items:[ReviewItem]}`
/// - `GET /api/review/:batch` → `ReviewDetail` (audited as `review.viewed`)
/// - `POST /api/review/:batch/approve {reason}`, `/reject {reason}`, `/reassign {patient, reason}` → `{batch, reviewState}`;
///   409 when someone decided first.
public struct ReviewAPI: ConsoleArea {
    let queue: ReviewQueue
    let retentionDays: Int
    let logger: Logger

    /// - Parameters:
    ///   - retentionDays: `[review] retention_days`: how long a rejected batch is kept before it is purged.
    ///   - issuer: the hospital's issuer of Patient IDs (`[reconciliation] issuer_of_patient_id`), for kiosk desks.
    ///   - protectAttempts: `[worker] max_attempts` for the job an approval or reassignment enqueues.
    public init(database: PortalDatabase, logger: Logger, retentionDays: Int = 30, issuer: String = "", protectAttempts: Int = 5) {
        queue = ReviewQueue(database, issuer: issuer, protectAttempts: protectAttempts)
        self.retentionDays = retentionDays
        self.logger = logger
    }

    public func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.get("/api/review") { request, context in
            _ = try context.require(.viewReview)
            var filter = ReviewQueue.Filter()
            if let source = request.uri.queryParameters.get("source"), !source.isEmpty {
                guard let value = ReviewItem.Source(rawValue: source) else { throw APIError.badRequest("\"source\" is portal or kiosk.") }
                filter.source = value
            }
            if let reason = request.uri.queryParameters.get("reason"), !reason.isEmpty {
                guard let value = ReviewReason(rawValue: reason) else { throw APIError.badRequest("\"reason\" is not a reason batches are held for.") }
                filter.reason = value
            }
            let items = try await queue.queue(filter)
            return JSONBody.response(["items": try Self.encoded(items)])
        }
        router.get("/api/review/:batch") { _, context in
            let staff = try context.require(.viewReview)
            let batch = try Self.batch(context)
            guard let detail = try await queue.open(batch, actor: staff.actor) else {
                throw APIError(.notFound, "not-found", "There is no processed batch with this id.")
            }
            return JSONBody.response(try Self.encoded(detail))
        }
        router.post("/api/review/:batch/approve") { request, context in
            let staff = try context.require(.review)
            return try await decide(.approve, by: staff, body: try await JSONBody.object(request), context)
        }
        router.post("/api/review/:batch/reject") { request, context in
            let staff = try context.require(.review)
            return try await decide(.reject(retentionDays: retentionDays), by: staff, body: try await JSONBody.object(request), context)
        }
        router.post("/api/review/:batch/reassign") { request, context in
            let staff = try context.require(.review)
            let body = try await JSONBody.object(request)
            let patient: Int64
            if let value = body["patient"] as? Int {
                patient = Int64(value)
            } else if let text = body["patient"] as? String, let value = Int64(text) {
                patient = value
            } else {
                throw APIError.badRequest("\"patient\" (the registered patient's id) is missing.")
            }
            return try await decide(.reassign(patient: patient), by: staff, body: body, context)
        }
    }

    private func decide(_ decision: ReviewDecision, by staff: SignedInStaff, body: [String: Any], _ context: ConsoleRequestContext) async throws -> Response {
        let batch = try Self.batch(context)
        let reason = try body.string("reason", max: ReviewQueue.reasonLimit * 4)
        do {
            try await queue.decide(decision, batch: batch, reviewer: staff.username, actor: staff.actor, reason: reason)
        } catch let error as ReviewError {
            throw Self.refusal(error)
        }
        let state = switch decision {
        case .approve: "approved"
        case .reject: "rejected"
        case .reassign: "reassigned"
        }
        return JSONBody.response(["batch": batch.uuidString.lowercased(), "reviewState": state])
    }

    static func refusal(_ error: ReviewError) -> APIError {
        switch error {
        case .notFound: APIError(.notFound, "not-found", "There is no batch with this id.")
        case .notPending:
            APIError(.conflict, "already-decided", "This batch is no longer waiting for review: someone decided first. Reload to see what was decided.")
        case .reasonRequired: APIError.badRequest("Give a reason for the decision; it is kept in the audit trail.")
        case .reasonTooLong(let limit): APIError.badRequest("The reason is longer than \(limit) characters.")
        case .unknownPatient: APIError(.unprocessableContent, "unknown-patient", "There is no registered patient with this id.")
        case .noRegisteredPatient:
            APIError(.unprocessableContent, "no-patient", "Nobody registered is named for this batch: reassign it to a registered patient instead.")
        }
    }

    static func batch(_ context: ConsoleRequestContext) throws -> UUID {
        guard let raw = context.parameters.get("batch"), let batch = UUID(uuidString: raw) else {
            throw APIError(.notFound, "not-found", "There is no batch with this id.")
        }
        return batch
    }

    static func encoded(_ value: some Encodable) throws -> Any {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return try JSONSerialization.jsonObject(with: try encoder.encode(value))
    }
}
