import Analytics
import Foundation
import Logging
import PostgresNIO

/// Scan analytics over the fleet: the session summaries of a period, filtered, aggregated by `Statistics` (the
/// kiosk's own aggregator) one row at a time, so memory holds the aggregate, not the period.
///
/// Which summary counts: for verdicts, findings and malware the worker's (core trusts nothing a kiosk says); for
/// what only the desk saw — the disc's layout, the bytes read and the time it took — the kiosk's.
public struct FleetAnalytics: Sendable {
    /// One session as the sessions table lists it.
    public struct Session: Codable, Sendable, Equatable {
        public var batch: String
        public var source: String
        public var kiosk: String?
        public var day: String
        public var institutions: [String]
        public var instances: Int, clean: Int, disarmed: Int, rejected: Int, discarded: Int, delivered: Int
        public var malwareFiles: Int, mismatches: Int, overridden: Bool
        public var hasDICOMDIR: Bool, pdiLayout: Bool
        public var bytes: Int64
        public var seconds: Double
        /// Whether a worker has checked it (a kiosk's session waiting for a worker has only the kiosk's summary).
        public var checked: Bool
    }

    /// The view of a period: its filter and statistics (totals, days, facilities, findings, malware).
    public struct Report: Codable, Sendable, Equatable {
        public var filter: AnalyticsFilter
        public var statistics: Statistics
        /// Sessions counted on a worker's summary, and those with only a kiosk's so far.
        public var checkedSessions: Int
        public var uncheckedSessions: Int
    }

    /// The most sessions the sessions table lists.
    public static let sessionLimit = 50_000

    let database: PortalDatabase
    private var logger: Logger { database.logger }

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// The filtered period aggregated. Every day of the period has a row (zero when quiet), so charts keep their
    /// time axis; with a facility filter, the facilities table holds that facility alone.
    public func report(_ filter: AnalyticsFilter) async throws -> Report {
        var accumulator = Statistics.Accumulator()
        var checked = 0, unchecked = 0
        try await forEach(filter, limit: nil) { row in
            accumulator.add(row.summary, day: row.day)
            if row.checked { checked += 1 } else { unchecked += 1 }
        }
        var statistics = accumulator.statistics
        let counted = Dictionary(uniqueKeysWithValues: statistics.days.map { ($0.date, $0) })
        statistics.days = filter.days.map { counted[$0] ?? Statistics.Day(date: $0) }
        if let facility = filter.facility { statistics.facilities = statistics.facilities.filter { $0.name == facility } }
        return Report(filter: filter, statistics: statistics, checkedSessions: checked, uncheckedSessions: unchecked)
    }

    /// The filtered sessions, oldest first, at most `sessionLimit`.
    public func sessions(_ filter: AnalyticsFilter) async throws -> [Session] {
        var sessions: [Session] = []
        try await forEach(filter, limit: Self.sessionLimit) { row in
            let s = row.summary
            sessions.append(Session(batch: row.batch.uuidString.lowercased(), source: row.source, kiosk: row.kiosk, day: row.day,
                                    institutions: row.institutions, instances: s.instances, clean: s.clean, disarmed: s.disarmed,
                                    rejected: s.rejected, discarded: s.discarded, delivered: s.delivered, malwareFiles: s.malwareFiles,
                                    mismatches: s.mismatches, overridden: s.overridden, hasDICOMDIR: s.hasDICOMDIR, pdiLayout: s.pdiLayout,
                                    bytes: s.bytes, seconds: s.seconds ?? 0, checked: row.checked))
        }
        return sessions
    }

    struct Row {
        var batch: UUID
        var source: String
        var kiosk: String?
        var day: String
        var institutions: [String]
        var summary: SessionSummary
        var checked: Bool
    }

    private func forEach(_ filter: AnalyticsFilter, limit: Int?, _ body: (Row) throws -> Void) async throws {
        let rows = try await database.client.query("""
            SELECT s.batch, s.source, k.name, s.day::text, s.institutions, s.summary::text, s.checked::text
            FROM session_summaries s LEFT JOIN kiosks k ON k.id = s.kiosk
            WHERE s.day BETWEEN \(filter.from)::date AND \(filter.to)::date
              AND (\(filter.facility)::text IS NULL OR \(filter.facility)::text = ANY(s.institutions))
              AND (\(filter.kiosk)::text IS NULL OR k.name = \(filter.kiosk)::text)
              AND (\(filter.source?.rawValue)::text IS NULL OR s.source = \(filter.source?.rawValue)::text)
            ORDER BY s.day, s.recorded_at, s.batch
            LIMIT \(limit ?? Int.max)
            """, logger: logger)
        for try await (batch, source, kiosk, day, institutions, summaryJSON, checkedJSON)
            in rows.decode((UUID, String, String?, String, [String], String?, String?).self) {
            let desk = SessionSummaries.decode(summaryJSON)
            let worker = SessionSummaries.decode(checkedJSON)
            guard let summary = Self.counted(desk: desk, worker: worker) else {
                logger.warning("a session summary cannot be read; it is left out of analytics", metadata: ["batch": "\(batch)"])
                continue
            }
            try body(Row(batch: batch, source: source, kiosk: kiosk, day: day, institutions: institutions, summary: summary,
                         checked: worker != nil))
        }
    }

    /// The summary a session counts with: the worker's verdicts and findings, the desk's disc traits and timing.
    static func counted(desk: SessionSummary?, worker: SessionSummary?) -> SessionSummary? {
        guard var counted = worker ?? desk else { return nil }
        if let desk, worker != nil {
            counted.started = desk.started; counted.finished = desk.finished; counted.bytes = desk.bytes
            counted.hasDICOMDIR = desk.hasDICOMDIR; counted.pdiLayout = desk.pdiLayout; counted.filesystem = desk.filesystem
            if counted.institutions.isEmpty { counted.institutions = desk.institutions }
        }
        return counted
    }
}
