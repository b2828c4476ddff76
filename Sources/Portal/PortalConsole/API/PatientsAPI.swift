import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PortalCore
import PortalStore
import WebSecurity

/// The console's patients: search the registry with each patient's portal account state, a patient's page (their
/// record, invitations and every batch of theirs with what became of it; reading it is audited), registering one
/// patient or a CSV file of them, and the account actions staff take on a patient's behalf: invite, resend, revoke,
/// unlock, and reset the second factor. Reading needs `viewPatients`, changing `managePatients`.
public struct PatientsAPI: ConsoleArea {
    let database: PortalDatabase
    let logger: Logger
    let inviter: PatientInviter
    let defaultIssuer: String
    let csvLimits: PatientCSV.Limits

    /// - Parameters:
    ///   - inviter: how invitations are made and e-mailed (the same as `patient invite`).
    ///   - defaultIssuer: the issuer of Patient IDs registered without one (`[reconciliation] issuer_of_patient_id`).
    public init(database: PortalDatabase, logger: Logger, inviter: PatientInviter, defaultIssuer: String = "",
                csvLimits: PatientCSV.Limits = PatientCSV.Limits()) {
        self.database = database; self.logger = logger; self.inviter = inviter; self.defaultIssuer = defaultIssuer; self.csvLimits = csvLimits
    }

    public func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.get("/api/patients") { request, context in try await list(request, context) }
        router.post("/api/patients") { request, context in try await register(request, context) }
        router.post("/api/patients/import") { request, context in try await importCSV(request, context) }
        router.get("/api/patients/:id") { _, context in try await show(context) }
        router.post("/api/patients/:id/invite") { _, context in try await invite(context, resend: false) }
        router.post("/api/patients/:id/resend") { _, context in try await invite(context, resend: true) }
        router.post("/api/patients/:id/revoke") { _, context in try await revoke(context) }
        router.post("/api/patients/:id/unlock") { _, context in try await unlock(context) }
        router.post("/api/patients/:id/reset-second-factor") { _, context in try await resetSecondFactor(context) }
    }

    // MARK: reading

    private func list(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        _ = try context.require(.viewPatients)
        let query = request.uri.queryParameters.get("q") ?? ""
        guard query.utf8.count <= 256 else { throw APIError.badRequest("The search is too long (at most 256 characters).") }
        let limit = request.uri.queryParameters.get("limit").flatMap(Int.init) ?? 50
        let offset = request.uri.queryParameters.get("offset").flatMap(Int.init) ?? 0
        guard (1...PatientDirectory.maxPageSize).contains(limit), offset >= 0 else {
            throw APIError.badRequest("limit must be 1-\(PatientDirectory.maxPageSize) and offset 0 or more.")
        }
        let (patients, total) = try await PatientDirectory(database).search(query, offset: offset, limit: limit)
        return JSONBody.response(["patients": patients.map(Self.json), "total": total, "offset": offset, "limit": limit])
    }

    private func show(_ context: ConsoleRequestContext) async throws -> Response {
        let staff = try context.require(.viewPatients)
        let id = try patientID(context)
        let directory = PatientDirectory(database)
        guard try await directory.recordView(id: id, actor: staff.actor), let summary = try await directory.summary(id: id) else {
            throw Self.unknownPatient
        }
        let invitations = try await directory.invitations(patient: id)
        let uploads = try await directory.uploads(patient: id)
        return JSONBody.response([
            "patient": Self.json(summary),
            "invitations": invitations.map(Self.json),
            "uploads": uploads.map(Self.json),
        ])
    }

    // MARK: registering

    private func register(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        let staff = try context.require(.managePatients)
        let body = try await JSONBody.object(request)
        func optional(_ key: String, max: Int) throws(APIError) -> String? {
            guard let value = body[key], !(value is NSNull) else { return nil }
            guard let text = value as? String else { throw APIError.badRequest("\"\(key)\" must be text.") }
            guard text.utf8.count <= max else { throw APIError.badRequest("\"\(key)\" is too long.") }
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty ? nil : trimmed
        }
        guard let patientID = try optional("patientID", max: 64) else { throw Self.invalid("The Patient ID is missing.") }
        guard let name = try optional("name", max: 320) else { throw Self.invalid("The name is missing (DICOM form Family^Given).") }
        guard let birthDate = try optional("birthDate", max: 8) else { throw Self.invalid("The birth date is missing (YYYYMMDD).") }
        let patient = RegisteredPatient(patientID: patientID, issuer: try optional("issuer", max: 64) ?? defaultIssuer, name: name,
                                        birthDate: birthDate, sex: try optional("sex", max: 16)?.uppercased(), email: try optional("email", max: 254))
        do throws(PatientRecordError) { try patient.validate() } catch { throw Self.invalid(Self.sentence(error.description)) }
        let id: Int64
        do { id = try await PatientRegistry(database).add(patient, actor: staff.actor) } catch let error as PatientRecordError {
            throw APIError(.conflict, "patient.exists", Self.sentence(error.description))
        }
        logger.info("patient registered in the console", metadata: ["patient": "\(id)", "staff": "\(staff.username)"])
        guard let summary = try await PatientDirectory(database).summary(id: id) else { throw Self.unknownPatient }
        return JSONBody.response(["patient": Self.json(summary)], status: .created)
    }

    /// The body is the CSV file itself (`text/csv`), or, as the page sends it, `{"csv": "…"}`; `?dryRun=true` only
    /// validates. The answer lists each row's outcome.
    private func importCSV(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        let staff = try context.require(.managePatients)
        let dryRun = ["1", "true", "yes"].contains(request.uri.queryParameters.get("dryRun")?.lowercased() ?? "")
        let tooLarge = APIError(.contentTooLarge, "csv.too-large", Self.sentence(PatientCSV.FormatError.tooLarge(limit: csvLimits.maxBytes).description))
        let bytes: [UInt8]
        if request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true {
            // JSON escaping at most doubles ordinary text; the file inside is held to the same bound as a raw one.
            let buffer: ByteBuffer
            do { buffer = try await request.body.collect(upTo: 2 * csvLimits.maxBytes + 1024) } catch { throw tooLarge }
            guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any],
                  let text = object["csv"] as? String else { throw APIError.badRequest("The request must be {\"csv\": \"…the file…\"}.") }
            guard text.utf8.count <= csvLimits.maxBytes else { throw tooLarge }
            bytes = Array(text.utf8)
        } else {
            do { bytes = Array(try await request.body.collect(upTo: csvLimits.maxBytes).readableBytesView) } catch { throw tooLarge }
        }
        let rows: [PatientCSV.Row]
        do { rows = try PatientCSV.parse(bytes, defaultIssuer: defaultIssuer, limits: csvLimits) } catch {
            throw APIError(.badRequest, "csv.invalid", Self.sentence(error.description))
        }
        let outcomes = try await PatientImporter(database).run(rows, dryRun: dryRun, actor: staff.actor)
        let counts = PatientImporter.counts(outcomes)
        if !dryRun {
            logger.info("patients imported in the console", metadata: [
                "staff": "\(staff.username)", "registered": "\(counts["registered"] ?? 0)", "rows": "\(outcomes.count)"])
        }
        return JSONBody.response(["dryRun": dryRun, "counts": counts, "rows": outcomes.map(Self.json)])
    }

    // MARK: the account

    private func invite(_ context: ConsoleRequestContext, resend: Bool) async throws -> Response {
        let staff = try context.require(.managePatients)
        let id = try patientID(context)
        guard let before = try await PatientDirectory(database).summary(id: id) else { throw Self.unknownPatient }
        if !resend, before.state == .pending, let live = before.invitation {
            throw APIError(.conflict, "invitation.live",
                           "This patient's invitation \(live.id) works until \(Self.date(live.expiresAt)). Resend it to replace it with a new one.")
        }
        if resend, before.invitation == nil {
            throw APIError(.conflict, "invitation.none", "This patient has never been invited: invite them first.")
        }
        let outcome: PatientInviter.Outcome
        do { outcome = try await inviter.invite(patient: id, delivery: .email, actor: staff.actor) } catch let failure as PatientInviter.Failure {
            switch failure {
            case .unknownPatient: throw Self.unknownPatient
            case .noEmail: throw APIError(.conflict, "patient.no-email", "The patient has no e-mail address (their sign-in name at the portal). Add one first.")
            case .mailNotConfigured: throw APIError(.serviceUnavailable, "mail.unconfigured", Self.sentence(failure.description))
            case .mailFailed(let invitation, _):
                // The relay's reason may name the address: it goes to the page, not the log.
                logger.warning("an invitation e-mail could not be sent; the invitation was revoked", metadata: ["patient": "\(id)", "invitation": "\(invitation)"])
                throw APIError(.badGateway, "mail.failed", Self.sentence(failure.description))
            }
        }
        logger.info("invitation e-mailed", metadata: ["patient": "\(id)", "invitation": "\(outcome.invitation.id)", "staff": "\(staff.username)"])
        return try await patientAnswer(id, extra: [
            "invitation": ["id": outcome.invitation.id, "expiresAt": Self.date(outcome.invitation.expiresAt)] as [String: Any],
            "replaced": outcome.replaced.map { $0 as Any } ?? NSNull(),
        ])
    }

    private func revoke(_ context: ConsoleRequestContext) async throws -> Response {
        let staff = try context.require(.managePatients)
        let id = try patientID(context)
        let revoked: Int64?
        do { revoked = try await InvitationStore(database).revokeLive(patient: id, reason: "revoked by staff", actor: staff.actor) } catch InvitationError.unknownPatient {
            throw Self.unknownPatient
        }
        guard let revoked else { throw APIError(.conflict, "invitation.none", "This patient has no live invitation to revoke.") }
        return try await patientAnswer(id, extra: ["revoked": revoked])
    }

    private func unlock(_ context: ConsoleRequestContext) async throws -> Response {
        let staff = try context.require(.managePatients)
        let id = try patientID(context)
        do { try await InvitationStore(database).request(.unlock, patient: id, actor: staff.actor) } catch InvitationError.unknownPatient {
            throw Self.unknownPatient
        }
        return try await patientAnswer(id)
    }

    private func resetSecondFactor(_ context: ConsoleRequestContext) async throws -> Response {
        let staff = try context.require(.managePatients)
        let id = try patientID(context)
        do { try await InvitationStore(database).request(.secondFactorReset, patient: id, actor: staff.actor) } catch InvitationError.unknownPatient {
            throw Self.unknownPatient
        }
        return try await patientAnswer(id)
    }

    // MARK: -

    private func patientAnswer(_ id: Int64, extra: [String: Any] = [:]) async throws -> Response {
        guard let summary = try await PatientDirectory(database).summary(id: id) else { throw Self.unknownPatient }
        var object = extra
        object["patient"] = Self.json(summary)
        return JSONBody.response(object)
    }

    private func patientID(_ context: ConsoleRequestContext) throws(APIError) -> Int64 {
        guard let text = context.parameters.get("id"), text.utf8.count <= 18, let id = Int64(text), id > 0 else { throw Self.unknownPatient }
        return id
    }

    static let unknownPatient = APIError(.notFound, "patient.not-found", "There is no such patient. They may have been looked up with an old link.")

    static func invalid(_ message: String) -> APIError { APIError(.badRequest, "patient.invalid", message) }

    /// A store's lower-case clause as a sentence for the page.
    static func sentence(_ text: String) -> String {
        guard let first = text.first else { return text }
        return first.uppercased() + text.dropFirst() + (text.hasSuffix(".") ? "" : ".")
    }

    static func date(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
    static func date(_ date: Date?) -> Any { date.map { Self.date($0) as Any } ?? NSNull() }

    static func json(_ summary: PatientSummary) -> [String: Any] {
        let patient = summary.patient
        return [
            "id": summary.id, "patientID": patient.patientID, "issuer": patient.issuer, "name": patient.name, "birthDate": patient.birthDate,
            "sex": patient.sex ?? NSNull(), "email": patient.email ?? NSNull(), "createdAt": date(summary.createdAt),
            "state": summary.state.rawValue, "invitation": summary.invitation.map { json($0) as Any } ?? NSNull(),
            "enrolledAt": date(summary.enrolledAt), "locked": summary.locked, "onEdge": summary.edgePushedAt != nil,
            "unlockRequestedAt": date(summary.unlockRequestedAt), "resetRequestedAt": date(summary.resetRequestedAt),
        ]
    }

    static func json(_ invitation: InvitationRecord) -> [String: Any] {
        ["id": invitation.id, "createdAt": date(invitation.createdAt), "expiresAt": date(invitation.expiresAt), "sentAt": date(invitation.sentAt),
         "pushedAt": date(invitation.pushedAt), "revokedAt": date(invitation.revokedAt)]
    }

    static func json(_ upload: PatientUpload) -> [String: Any] {
        func number(_ value: Int?) -> Any { value.map { $0 as Any } ?? NSNull() }
        return [
            "batch": upload.batch.uuidString.lowercased(), "source": upload.source, "kiosk": upload.kiosk ?? NSNull(), "state": upload.state,
            "createdAt": date(upload.createdAt), "committedAt": date(upload.committedAt), "processedAt": date(upload.processedAt),
            "files": number(upload.files), "dicom": number(upload.dicom), "delivered": number(upload.delivered), "rejected": number(upload.rejected),
            "heldStudies": number(upload.heldStudies), "reviewState": upload.reviewState ?? NSNull(), "reviewedBy": upload.reviewedBy ?? NSNull(),
            "reviewedAt": date(upload.reviewedAt), "problems": upload.problems,
        ]
    }

    static func json(_ row: PatientImportRow) -> [String: Any] {
        var object: [String: Any] = ["line": row.line, "patientID": row.patientID ?? NSNull(), "issuer": row.issuer ?? NSNull()]
        switch row.outcome {
        case .valid: object["outcome"] = "valid"
        case .registered(let id): object["outcome"] = "registered"; object["id"] = id
        case .alreadyRegistered(let id):
            object["outcome"] = "existing"; object["id"] = id; object["message"] = "This patient is already registered."
        case .duplicate(let line): object["outcome"] = "duplicate"; object["message"] = "The same patient as line \(line)."
        case .invalid(let why): object["outcome"] = "invalid"; object["message"] = sentence(why)
        }
        return object
    }
}
