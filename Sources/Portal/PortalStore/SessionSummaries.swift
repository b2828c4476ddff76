import Analytics
import Foundation
import Logging
import PostgresNIO

/// The `session_summaries` table: per batch, the summary a kiosk forwarded with its manifest (`summary`, what the
/// desk saw of the disc) and the one a worker made of its own report (`checked`). A patient's portal upload has only
/// the worker's, kept in both. No patient data: a summary holds counts, codes and Institution Names.
public struct SessionSummaries: Sendable {
    /// The largest forwarded summary kept; a larger one is not analytics but a kiosk misbehaving.
    public static let kioskSummaryLimit = 256 << 10
    /// Institution Name is a DICOM LO (at most 64 characters); a disc names a handful.
    static let institutionLimit = 64

    let database: PortalDatabase
    private var logger: Logger { database.logger }

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// Records what a kiosk forwarded for `batch` (its session's batch), once: a replayed manifest changes nothing. A
    /// worker that recorded its summary first (the commit raced the manifest's answer) keeps it; the desk's joins.
    /// A summary that is too large or not a session summary is refused with `SessionSummaryError`.
    public func recordKiosk(batch: UUID, analytics: Data) async throws {
        let summary = try Self.decodeKiosk(analytics)
        try await database.client.query("""
            INSERT INTO session_summaries (batch, source, kiosk, day, started_at, institutions, summary)
            SELECT b.id, 'kiosk', b.kiosk, \(Self.day(summary))::date, \(summary.started), \(Self.institutions(summary)),
                   \(try Self.json(summary))::jsonb
            FROM batches b WHERE b.id = \(batch) AND b.kiosk IS NOT NULL
            ON CONFLICT (batch) DO UPDATE SET summary = EXCLUDED.summary, day = EXCLUDED.day, started_at = EXCLUDED.started_at,
                institutions = EXCLUDED.institutions
            WHERE session_summaries.summary IS NULL
            """, logger: logger)
    }

    /// Records a worker's summary of its report on `batch`, inside the transaction that records the outcome. The day
    /// and facilities a kiosk's summary gave stay (the desk read the disc); a batch processed again replaces the
    /// worker's summary.
    public func recordChecked(batch: UUID, summary: SessionSummary, on connection: PostgresConnection) async throws {
        let json = try Self.json(summary)
        try await connection.query("""
            INSERT INTO session_summaries (batch, source, kiosk, day, started_at, institutions, summary, checked)
            SELECT b.id, CASE WHEN b.kiosk IS NULL THEN 'portal' ELSE 'kiosk' END, b.kiosk, \(Self.day(summary))::date,
                   \(summary.started), \(Self.institutions(summary)), CASE WHEN b.kiosk IS NULL THEN \(json)::jsonb END, \(json)::jsonb
            FROM batches b WHERE b.id = \(batch)
            ON CONFLICT (batch) DO UPDATE SET
                checked = EXCLUDED.checked,
                summary = CASE WHEN session_summaries.source = 'portal' THEN EXCLUDED.summary ELSE session_summaries.summary END,
                institutions = CASE WHEN session_summaries.source = 'portal' OR session_summaries.summary IS NULL
                                    THEN EXCLUDED.institutions ELSE session_summaries.institutions END,
                recorded_at = now()
            """, logger: logger)
    }

    /// A kiosk's summary, bounded before and after decoding.
    static func decodeKiosk(_ data: Data) throws(SessionSummaryError) -> SessionSummary {
        guard data.count <= kioskSummaryLimit else { throw .tooLarge(kioskSummaryLimit) }
        let decoder = JSONDecoder()
        // The manifest carries the summary as Foundation encodes it by default (a date is seconds since 2001); the
        // kiosk's own analytics file, ISO 8601.
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            if let seconds = try? container.decode(Double.self) { return Date(timeIntervalSinceReferenceDate: seconds) }
            let text = try container.decode(String.self)
            guard let date = ISO8601DateFormatter().date(from: text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(text) is not an ISO 8601 time")
            }
            return date
        }
        var summary: SessionSummary
        do { summary = try decoder.decode(SessionSummary.self, from: data) } catch { throw .unreadable("\(error)") }
        guard summary.institutions.count <= institutionLimit else { throw .unreadable("more than \(institutionLimit) institutions") }
        summary.institutions = summary.institutions.map { String($0.prefix(64)) }
        return summary
    }

    static func json(_ summary: SessionSummary) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(summary), as: UTF8.self)
    }

    static func decode(_ json: String?) -> SessionSummary? {
        guard let json else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(SessionSummary.self, from: Data(json.utf8))
    }

    /// The UTC day the session started (or finished); today for a summary without either.
    static func day(_ summary: SessionSummary) -> String {
        Statistics.day(summary.started ?? summary.finished ?? Date())
    }

    /// The facilities the filter looks for, bounded: what a disc's headers say is not trusted to be an LO.
    static func institutions(_ summary: SessionSummary) -> [String] {
        summary.institutions.prefix(institutionLimit).map { String($0.prefix(64)) }
    }
}

public enum SessionSummaryError: Error, Equatable, CustomStringConvertible {
    case tooLarge(Int)
    case unreadable(String)

    public var description: String {
        switch self {
        case .tooLarge(let limit): "the forwarded session summary is larger than \(limit) bytes; it was not kept"
        case .unreadable(let why): "the forwarded session summary is unreadable (\(why)); it was not kept"
        }
    }
}
