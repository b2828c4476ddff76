import Foundation

/// Aggregates over session summaries: what `kiosk-agent stats`, the dashboard and `/metrics` show.
public struct Statistics: Codable, Sendable, Equatable {
    public struct Day: Codable, Sendable, Equatable {
        public var date: String
        public var sessions = 0, instances = 0, threats = 0, mismatches = 0
        public var bytes: Int64 = 0
        public var seconds = 0.0
        /// Verdicts of the day's instances, malware findings, and sessions imported by identity override.
        public var clean = 0, disarmed = 0, rejected = 0, discarded = 0, delivered = 0, malware = 0, overrides = 0

        public init(date: String) { self.date = date }

        /// Megabytes read per second that day.
        public var throughputMBps: Double { seconds > 0 ? Double(bytes) / 1_000_000 / seconds : 0 }
    }

    /// One sending facility (Institution Name) and the quality of what it sends.
    public struct Facility: Codable, Sendable, Equatable {
        public var name: String
        public var discs = 0, instances = 0
        public var withoutDICOMDIR = 0, nonPDI = 0, jpeg2000 = 0, malware = 0
        /// Discs with a study of another patient than the one expected.
        public var mismatches = 0
    }

    public var sessions = 0
    public var instances = 0, delivered = 0, rejected = 0, discarded = 0, disarmed = 0
    public var clean = 0
    /// Files with malware, and sessions with an identity mismatch (and those imported by override).
    public var malwareFiles = 0
    public var mismatchSessions = 0, overrides = 0
    /// Studies imported by a recorded identity override.
    public var overriddenStudies = 0
    public var bytes: Int64 = 0
    public var seconds = 0.0
    /// Findings per family, most first.
    public var families: [String: Int] = [:]
    /// Findings per code.
    public var codes: [String: Int] = [:]
    /// Malware findings by engine, then signature.
    public var malware: [String: [String: Int]] = [:]
    /// Discs with a DICOMDIR, in the IHE PDI layout, with JPEG 2000.
    public var withDICOMDIR = 0, pdiLayout = 0, jpeg2000 = 0
    public var days: [Day] = []
    public var facilities: [Facility] = []
    /// Exit codes (as strings, for JSON) and their counts.
    public var results: [String: Int] = [:]
    public var unreadableLines = 0

    /// Megabytes read per second over all sessions that took time.
    public var throughputMBps: Double { seconds > 0 ? Double(bytes) / 1_000_000 / seconds : 0 }

    public init(_ summaries: [SessionSummary], unreadable: Int = 0, since: Date? = nil) {
        var accumulator = Accumulator()
        for summary in summaries {
            if let since, let started = summary.started ?? summary.finished, started < since { continue }
            accumulator.add(summary)
        }
        self = accumulator.statistics
        unreadableLines = unreadable
    }

    init() {}

    /// Statistics built one summary at a time, so a reader streaming summaries (the portal's database) holds only
    /// the aggregate.
    public struct Accumulator: Sendable {
        private var totals = Statistics()
        private var days: [String: Day] = [:]
        private var facilities: [String: Facility] = [:]

        public init() {}

        /// Counts `summary`, on `day` (yyyy-MM-dd) when given, else on the day it started.
        public mutating func add(_ summary: SessionSummary, day date: String? = nil) {
            totals.sessions += 1
            totals.instances += summary.instances; totals.delivered += summary.delivered; totals.rejected += summary.rejected
            totals.discarded += summary.discarded; totals.disarmed += summary.disarmed; totals.clean += summary.clean
            totals.malwareFiles += summary.malwareFiles
            if summary.mismatches > 0 { totals.mismatchSessions += 1 }
            if summary.overridden { totals.overrides += 1 }
            totals.overriddenStudies += summary.overriddenStudies ?? 0
            totals.results[String(summary.exit), default: 0] += 1
            for (family, count) in summary.families { totals.families[family, default: 0] += count }
            for (code, count) in summary.codes { totals.codes[code, default: 0] += count }
            var malwareFindings = 0
            for (engine, signatures) in summary.malware ?? [:] {
                for (signature, count) in signatures {
                    totals.malware[engine, default: [:]][signature, default: 0] += count
                    malwareFindings += count
                }
            }
            if summary.hasDICOMDIR { totals.withDICOMDIR += 1 }
            if summary.pdiLayout { totals.pdiLayout += 1 }
            if summary.jpeg2000 { totals.jpeg2000 += 1 }
            let duration = summary.seconds ?? 0
            totals.bytes += summary.bytes
            totals.seconds += duration
            let date = date ?? Statistics.day(summary.started ?? summary.finished)
            var day = days[date] ?? Day(date: date)
            day.sessions += 1; day.instances += summary.instances; day.threats += summary.malwareFiles
            day.mismatches += summary.mismatches > 0 ? 1 : 0; day.bytes += summary.bytes; day.seconds += duration
            day.clean += summary.clean; day.disarmed += summary.disarmed; day.rejected += summary.rejected
            day.discarded += summary.discarded; day.delivered += summary.delivered; day.malware += malwareFindings
            day.overrides += summary.overridden ? 1 : 0
            days[date] = day
            for name in summary.institutions.isEmpty ? [Statistics.notStated] : summary.institutions {
                var facility = facilities[name] ?? Facility(name: name)
                facility.discs += 1
                facility.instances += summary.instancesByInstitution?[name] ?? summary.instances
                if !summary.hasDICOMDIR { facility.withoutDICOMDIR += 1 }
                if !summary.pdiLayout { facility.nonPDI += 1 }
                if (summary.jpeg2000Institutions ?? summary.institutions).contains(name) || (summary.jpeg2000 && summary.institutions.isEmpty) { facility.jpeg2000 += 1 }
                if summary.malwareFiles > 0 { facility.malware += 1 }
                if summary.mismatches > 0 { facility.mismatches += 1 }
                facilities[name] = facility
            }
        }

        public var statistics: Statistics {
            var result = totals
            result.days = days.values.sorted { $0.date < $1.date }
            result.facilities = facilities.values.sorted { ($0.discs, $1.name) > ($1.discs, $0.name) }
            return result
        }
    }

    /// The facility of a disc whose studies name none.
    public static let notStated = "(not stated)"

    /// The day (UTC, yyyy-MM-dd) a session is counted on; "unknown" without a time.
    public static func day(_ date: Date?) -> String {
        guard let date else { return "unknown" }
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = "yyyy-MM-dd"
        return format.string(from: date)
    }

    /// The terminal view of `kiosk-agent stats`.
    public func text() -> String {
        var lines = ["Sessions: \(sessions)   instances imported: \(instances) (\(delivered) delivered, \(disarmed) cleaned, \(rejected) refused)",
                     "Other files left out: \(discarded)   files with malware: \(malwareFiles)",
                     "Identity mismatches: \(mismatchSessions) session(s), \(overrides) imported by recorded override",
                     String(format: "Read: %.1f MB in %.1f s (%.1f MB/s)", Double(bytes) / 1_000_000, seconds, throughputMBps)]
        if unreadableLines > 0 { lines.append("Warning: \(unreadableLines) analytics line(s) could not be read") }
        if !days.isEmpty {
            lines.append("")
            lines.append("Day          sessions  instances  threats  mismatches")
            for day in days.suffix(14) {
                lines.append(Statistics.pad(day.date, 12) + Statistics.lpad(day.sessions, 9) + Statistics.lpad(day.instances, 11)
                             + Statistics.lpad(day.threats, 9) + Statistics.lpad(day.mismatches, 12))
            }
        }
        if !families.isEmpty {
            lines.append("")
            lines.append("Findings by family: " + families.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if !facilities.isEmpty {
            lines.append("")
            lines.append("Sending facility                 discs  no DICOMDIR  not PDI  JPEG 2000  malware")
            for facility in facilities.prefix(20) {
                lines.append(Statistics.pad(String(facility.name.prefix(31)), 33) + Statistics.lpad(facility.discs, 5)
                             + Statistics.lpad(facility.withoutDICOMDIR, 13) + Statistics.lpad(facility.nonPDI, 9)
                             + Statistics.lpad(facility.jpeg2000, 11) + Statistics.lpad(facility.malware, 9))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
    static func lpad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }
}
