import Foundation
import Logging
import PostgresNIO

extension AuditEvent {
    /// The audit area's own records: a search exported, the chain verified, a patient's access report read.
    public static let auditExported = "audit.exported"
    public static let auditVerified = "audit.verified"
    public static let auditAccessReport = "audit.access-report"
}

/// One record of the central audit table, as the console shows it.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var seq: Int64
    public var at: Date
    public var eventType: String
    public var actor: String
    public var detail: JSONValue
}

/// What to look for. Every filter narrows; none given means every record.
public struct AuditQuery: Sendable, Equatable {
    /// patients.id: records naming the patient, or any of the patient's batches (uploaded, or assigned on review).
    public var patient: Int64?
    /// A staff username: records they made (`staff:<u>`) or that name them.
    public var staff: String?
    /// A kiosk's name: records naming it or one of its batches, or made by it.
    public var kiosk: String?
    public var from: Date?
    /// Exclusive.
    public var to: Date?
    /// An event type prefix (`review.` or `batch.delivered`).
    public var typePrefix: String?
    /// Keyset: records after this sequence number.
    public var after: Int64?
    public var limit: Int

    public init(patient: Int64? = nil, staff: String? = nil, kiosk: String? = nil, from: Date? = nil, to: Date? = nil,
                typePrefix: String? = nil, after: Int64? = nil, limit: Int = AuditSearch.defaultPage) {
        self.patient = patient; self.staff = staff; self.kiosk = kiosk; self.from = from; self.to = to
        self.typePrefix = typePrefix; self.after = after; self.limit = limit
    }
}

public struct AuditPage: Sendable, Equatable, Codable {
    public var records: [AuditEntry]
    /// Pass as `after` for the next page; nil on the last page.
    public var next: Int64?
}

/// Searches the central audit table by patient, staff member, kiosk, time and event type, oldest first, a bounded
/// page at a time (keyset on `seq`, so pages stay cheap however deep), and streams whole results as CSV.
public struct AuditSearch: Sendable {
    public static let defaultPage = 100
    public static let maxPage = 500
    /// Records the access report lists (the per-actor counts cover every record all the same).
    public static let maxReportRecords = 5_000

    let database: PortalDatabase

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    public func page(_ query: AuditQuery) async throws -> AuditPage {
        let limit = min(max(query.limit, 1), Self.maxPage)
        var records = try await fetch(query, limit: limit + 1)
        let more = records.count > limit
        if more { records.removeLast() }
        return AuditPage(records: records, next: more ? records.last?.seq : nil)
    }

    /// Every matching record in order, a page at a time, to `body` (the CSV export's source).
    public func each(_ query: AuditQuery, _ body: (AuditEntry) async throws -> Void) async throws {
        var query = query
        while true {
            let records = try await fetch(query, limit: 1_000)
            for record in records { try await body(record) }
            guard records.count == 1_000, let last = records.last else { return }
            query.after = last.seq
        }
    }

    func fetch(_ query: AuditQuery, limit: Int) async throws -> [AuditEntry] {
        var binds = PostgresBindings()
        var conditions: [String] = []
        func bind(_ value: some PostgresNonThrowingEncodable) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if let patient = query.patient {
            let id = bind(String(patient)), number = bind(patient)
            conditions.append("""
                (detail->>'patient' = \(id) OR detail->>'batch' IN
                    (SELECT id::text FROM batches WHERE patient = \(number) OR assigned_patient = \(number)))
                """)
        }
        if let staff = query.staff {
            conditions.append("(actor = \(bind("staff:" + staff)) OR detail->>'staff' = \(bind(staff)))")
        }
        if let kiosk = query.kiosk {
            let name = bind(kiosk)
            conditions.append("""
                (detail->>'kiosk' = \(name) OR actor = \(bind("kiosk:" + kiosk)) OR detail->>'batch' IN
                    (SELECT b.id::text FROM batches b JOIN kiosks k ON k.id = b.kiosk WHERE k.name = \(name)))
                """)
        }
        if let from = query.from { conditions.append("at >= \(bind(from))") }
        if let to = query.to { conditions.append("at < \(bind(to))") }
        if let prefix = query.typePrefix, !prefix.isEmpty { conditions.append("starts_with(event_type, \(bind(prefix)))") }
        if let after = query.after { conditions.append("seq > \(bind(after))") }
        let sql = """
            SELECT seq, at, event_type, actor, detail::text FROM audit
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY seq LIMIT \(limit)
            """
        let rows = try await database.client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: database.logger)
        var out: [AuditEntry] = []
        for try await (seq, at, eventType, actor, detail) in rows.decode((Int64, Date, String, String, String).self) {
            out.append(AuditEntry(seq: seq, at: at, eventType: eventType, actor: actor, detail: (try? JSONValue.parse(detail)) ?? .string(detail)))
        }
        return out
    }

    /// Who touched the patient's data: every actor of the records naming the patient or the patient's batches, with
    /// what they did (event counts), first and last time, plus the records themselves (the first
    /// `maxReportRecords`).
    public func accessReport(patient: Int64) async throws -> AccessReport {
        var records: [AuditEntry] = []
        var actors: [String: AccessReport.Actor] = [:]
        var truncated = false
        try await each(AuditQuery(patient: patient)) { record in
            var actor = actors[record.actor] ?? AccessReport.Actor(actor: record.actor, kind: AccessReport.kind(of: record.actor), count: 0,
                                                                  first: record.at, last: record.at, events: [:])
            actor.count += 1
            actor.first = min(actor.first, record.at)
            actor.last = max(actor.last, record.at)
            actor.events[record.eventType, default: 0] += 1
            actors[record.actor] = actor
            if records.count < Self.maxReportRecords { records.append(record) } else { truncated = true }
        }
        return AccessReport(patient: patient, actors: actors.values.sorted { ($0.kind.rawValue, $0.actor) < ($1.kind.rawValue, $1.actor) },
                            records: records, truncated: truncated)
    }
}

/// "Who touched this patient's data", grouped by actor.
public struct AccessReport: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case staff, kiosk, worker, core, edge, patient, other }

    public struct Actor: Sendable, Equatable, Codable {
        public var actor: String
        public var kind: Kind
        public var count: Int
        public var first: Date
        public var last: Date
        /// Event type → how many.
        public var events: [String: Int]
    }

    public var patient: Int64
    public var actors: [Actor]
    public var records: [AuditEntry]
    /// More records matched than are listed.
    public var truncated: Bool

    /// The kind of actor an audit record names: `staff:<u>`, `kiosk:<name>`, a worker, core, the edge, a patient.
    public static func kind(of actor: String) -> Kind {
        if actor.hasPrefix("staff:") { return .staff }
        if actor.hasPrefix("kiosk:") { return .kiosk }
        if actor.hasPrefix("worker") { return .worker }
        if actor == "core" { return .core }
        if actor == "edge" || actor.hasPrefix("edge:") { return .edge }
        if actor.hasPrefix("patient:") { return .patient }
        return .other
    }
}
