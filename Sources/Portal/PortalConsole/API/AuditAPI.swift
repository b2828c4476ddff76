import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PortalStore
import WebSecurity

/// The audit area: search the central audit table (JSON pages, CSV export), verify the chain against the anchors
/// kept outside the database with the kiosks' trail segments, and the per-patient access report. Reading the
/// audit is itself audited where it exports or reports on a patient, and when the chain is verified.
public struct AuditAPI: ConsoleArea {
    let database: PortalDatabase
    let logger: Logger
    /// The state directory's audit anchors (as `audit verify` reads them); nil: the chain is checked alone.
    let anchorsPath: String?

    public init(database: PortalDatabase, logger: Logger, anchorsPath: String?) {
        self.database = database; self.logger = logger; self.anchorsPath = anchorsPath
    }

    public func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.get("/api/audit") { request, context in
            _ = try context.require(.viewAudit)
            let query = try Self.query(request)
            return try Self.json(try await AuditSearch(database).page(query))
        }
        router.get("/api/audit/export.csv") { request, context in
            let staff = try context.require(.viewAudit)
            var query = try Self.query(request)
            query.after = nil
            try await AuditLog(database).append(eventType: AuditEvent.auditExported, actor: staff.actor,
                                                detail: Self.filterDetail(query).merging(["format": .string("csv")]) { $1 })
            return Self.csv(query, search: AuditSearch(database))
        }
        router.post("/api/audit/verify") { _, context in
            let staff = try context.require(.viewAudit)
            let result = try await verify()
            try await AuditLog(database).append(eventType: AuditEvent.auditVerified, actor: staff.actor,
                                                detail: ["result": .string(result.result), "records": .integer(Int64(result.records ?? 0))])
            return try Self.json(result)
        }
        router.get("/api/audit/patients/:id/access") { _, context in
            let staff = try context.require(.viewAudit)
            guard let text = context.parameters.get("id"), let patient = Int64(text), patient > 0 else {
                throw APIError.badRequest("The patient is named by the portal's number for them.")
            }
            let report = try await AuditSearch(database).accessReport(patient: patient)
            try await AuditLog(database).append(eventType: AuditEvent.auditAccessReport, actor: staff.actor,
                                                detail: ["patient": .integer(patient), "records": .integer(Int64(report.records.count))])
            return try Self.json(report)
        }
    }

    /// The chain (with the anchors) and the kiosks' segments, as `POST /api/audit/verify` answers.
    public struct Verification: Sendable, Codable, Equatable {
        /// intact, altered or truncated.
        public var result: String
        public var message: String
        public var records: Int?
        public var seq: Int64?
        public var anchoredSeq: Int64?
        public var anchors: Int
        public var kiosks: [KioskTrailSummary]
    }

    public func verify() async throws -> Verification {
        let anchors: [AuditAnchors.Anchor]
        do { anchors = try anchorsPath.map { try AuditAnchors(path: $0).read() } ?? [] } catch {
            throw APIError(.internalServerError, "anchors-unreadable", "\(error). The chain cannot be checked against its anchors until the file is restored.")
        }
        let verdict = try await AuditLog(database).verify(anchors: anchors)
        let kiosks = try await KioskTrails(database).summary()
        var answer = Verification(result: "intact", message: verdict.description, anchors: anchors.count, kiosks: kiosks)
        switch verdict {
        case .intact(let records): answer.records = records
        case .altered(let seq, _): answer.result = "altered"; answer.seq = seq
        case .truncated(let last, let anchored): answer.result = "truncated"; answer.seq = last; answer.anchoredSeq = anchored
        }
        return answer
    }

    // MARK: parameters

    static func query(_ request: Request) throws(APIError) -> AuditQuery {
        let parameters = request.uri.queryParameters
        func text(_ name: String, max: Int = 200) throws(APIError) -> String? {
            guard let value = parameters.get(name), !value.isEmpty else { return nil }
            guard value.utf8.count <= max else { throw APIError.badRequest("\"\(name)\" is too long.") }
            return value
        }
        func number(_ name: String) throws(APIError) -> Int64? {
            guard let value = try text(name, max: 20) else { return nil }
            guard let number = Int64(value), number >= 0 else { throw APIError.badRequest("\"\(name)\" must be a whole number.") }
            return number
        }
        func date(_ name: String) throws(APIError) -> Date? {
            guard let value = try text(name, max: 40) else { return nil }
            guard let date = parseDate(value) else {
                throw APIError.badRequest("\"\(name)\" must be a date (2026-12-05) or a time (2026-12-05T10:00:00Z).")
            }
            return date
        }
        var query = AuditQuery(patient: try number("patient"), staff: try text("staff", max: 64), kiosk: try text("kiosk", max: 128),
                               from: try date("from"), to: try date("to"), typePrefix: try text("type", max: 100), after: try number("after"))
        if let limit = try number("limit") { query.limit = Int(min(limit, Int64(AuditSearch.maxPage))) }
        return query
    }

    /// ISO 8601 with or without fractional seconds, or a day (UTC midnight).
    static func parseDate(_ text: String) -> Date? {
        let format = ISO8601DateFormatter()
        if let date = format.date(from: text) { return date }
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = format.date(from: text) { return date }
        format.formatOptions = [.withFullDate]
        return format.date(from: text)
    }

    /// The filters of an export, for its audit record.
    static func filterDetail(_ query: AuditQuery) -> [String: JSONValue] {
        var detail: [String: JSONValue] = [:]
        if let patient = query.patient { detail["patient"] = .integer(patient) }
        if let staff = query.staff { detail["staff"] = .string(staff) }
        if let kiosk = query.kiosk { detail["kiosk"] = .string(kiosk) }
        if let from = query.from { detail["from"] = .string(AuditCSV.timestamp(from)) }
        if let to = query.to { detail["to"] = .string(AuditCSV.timestamp(to)) }
        if let type = query.typePrefix { detail["type"] = .string(type) }
        return detail
    }

    // MARK: answers

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(AuditCSV.timestamp(date))
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// The whole result, streamed a chunk at a time as the pages are read.
    static func csv(_ query: AuditQuery, search: AuditSearch) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"audit.csv\""
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var chunk = AuditCSV.header
            try await search.each(query) { record in
                chunk += AuditCSV.row(record)
                if chunk.utf8.count >= 64 << 10 {
                    try await writer.write(ByteBuffer(string: chunk))
                    chunk = ""
                }
            }
            try await writer.write(ByteBuffer(string: chunk))
            try await writer.finish(nil)
        })
    }
}
