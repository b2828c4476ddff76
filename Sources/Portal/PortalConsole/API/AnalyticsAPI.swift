import Analytics
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PortalStore
import WebSecurity

extension AuditEvent {
    /// A staff member downloaded an analytics table (detail: table, period, filters, rows).
    public static let analyticsExported = "analytics.exported"
}

/// Fleet-wide scan analytics: `GET /api/analytics` (JSON), `/api/analytics/charts/<name>.svg` (server-drawn SVG) and
/// `/api/analytics/export.csv?table=…` (audited), each filtered by `from`, `to`, `facility`, `kiosk` and `source`.
/// No patient data is in any of them: summaries hold counts, codes and Institution Names.
public struct AnalyticsAPI: ConsoleArea {
    let database: PortalDatabase
    let logger: Logger

    public init(database: PortalDatabase, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.get("/api/analytics") { request, context in
            _ = try context.require(.viewAnalytics)
            let filter = try Self.filter(request)
            let report = try await reading { try await FleetAnalytics(database).report(filter) }
            return try ConsoleResponses.json(report)
        }
        router.get("/api/analytics/charts/:chart") { request, context in
            _ = try context.require(.viewAnalytics)
            let file = context.parameters.get("chart") ?? ""
            guard file.hasSuffix(".svg"), let name = AnalyticsCharts.Name(rawValue: String(file.dropLast(4))) else {
                throw APIError(.notFound, "no-such-chart",
                               "There is no chart \(file.prefix(40)); the charts are \(AnalyticsCharts.Name.allCases.map { $0.rawValue + ".svg" }.joined(separator: ", ")).")
            }
            let filter = try Self.filter(request)
            let report = try await reading { try await FleetAnalytics(database).report(filter) }
            return ConsoleResponses.svg(AnalyticsCharts.svg(name, report.statistics))
        }
        router.get("/api/analytics/export.csv") { request, context in
            let staff = try context.require(.viewAnalytics)
            let filter = try Self.filter(request)
            let asked = request.uri.queryParameters.get("table") ?? ""
            guard let table = AnalyticsCSV.Table(rawValue: asked) else {
                throw APIError(.badRequest, "bad-table",
                               "\"table\" must be one of \(AnalyticsCSV.Table.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(asked.prefix(20))\").")
            }
            let (csv, rows) = try await reading { () async throws -> (String, Int) in
                let analytics = FleetAnalytics(database)
                switch table {
                case .sessions: return AnalyticsCSV.sessions(try await analytics.sessions(filter))
                case .days: return AnalyticsCSV.days(try await analytics.report(filter).statistics)
                case .facilities: return AnalyticsCSV.facilities(try await analytics.report(filter).statistics)
                case .findings: return AnalyticsCSV.findings(try await analytics.report(filter).statistics)
                case .malware: return AnalyticsCSV.malware(try await analytics.report(filter).statistics)
                }
            }
            var detail: [String: JSONValue] = [
                "table": .string(table.rawValue), "from": .string(filter.from), "to": .string(filter.to), "rows": .integer(Int64(rows)),
            ]
            if let facility = filter.facility { detail["facility"] = .string(facility) }
            if let kiosk = filter.kiosk { detail["kiosk"] = .string(kiosk) }
            if let source = filter.source { detail["source"] = .string(source.rawValue) }
            _ = try await reading { try await AuditLog(database).append(eventType: AuditEvent.analyticsExported, actor: staff.actor, detail: detail) }
            var headers = HTTPFields()
            headers[.contentType] = "text/csv; charset=utf-8; header=present"
            headers[.contentDisposition] = "attachment; filename=\"analytics-\(table.rawValue)-\(filter.from)-\(filter.to).csv\""
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: csv)))
        }
    }

    /// The filter of the query string, or a refusal naming the value that is wrong.
    static func filter(_ request: Request) throws(APIError) -> AnalyticsFilter {
        let query = request.uri.queryParameters
        do {
            return try AnalyticsFilter(from: query.get("from"), to: query.get("to"), facility: query.get("facility"),
                                       kiosk: query.get("kiosk"), source: query.get("source"))
        } catch {
            throw APIError(.badRequest, error.code, error.description)
        }
    }

    /// Database failures are logged and answered without detail.
    private func reading<T: Sendable>(_ body: () async throws -> T) async throws(APIError) -> T {
        try await ConsoleResponses.reading("analytics", logger: logger, body)
    }
}

/// Answers shared by the analytics and fleet areas.
enum ConsoleResponses {
    static let unavailable = APIError(.serviceUnavailable, "unavailable",
                                      "The portal's database did not answer. Try again in a moment; if it persists, check core's log.")

    /// `body`'s answer; when the database fails, the error is logged (`what` could not be read) and the page is told
    /// `unavailable`.
    static func reading<T: Sendable>(_ what: String, logger: Logger, _ body: () async throws -> T) async throws(APIError) -> T {
        do { return try await body() } catch {
            logger.error("\(what) could not be read", metadata: ["error": "\(error)"])
            throw unavailable
        }
    }

    /// A Codable value as JSON, times as ISO 8601.
    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// An SVG image: nothing in it may run or load, even opened on its own.
    static func svg(_ document: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "image/svg+xml; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] = "default-src 'none'; sandbox"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: document)))
    }
}
