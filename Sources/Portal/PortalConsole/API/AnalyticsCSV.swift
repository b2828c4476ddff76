import Analytics
import Foundation
import PortalStore

/// The analytics tables as CSV (RFC 4180: CRLF line ends, fields with a comma, quote or line break quoted, quotes
/// doubled). A cell a spreadsheet would read as a formula (starting with = + - @, tab or carriage return) is
/// prefixed with an apostrophe, since an Institution Name is whatever a disc said.
enum AnalyticsCSV {
    enum Table: String, CaseIterable {
        case days, facilities, findings, malware, sessions
    }

    static func cell(_ text: String) -> String {
        var value = text
        if let first = value.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) { value = "'" + value }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func document(_ header: [String], _ rows: [[String]]) -> String {
        ([header] + rows).map { $0.map(cell).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    static func days(_ statistics: Statistics) -> (String, Int) {
        let rows = statistics.days.map { d in
            [d.date, "\(d.sessions)", "\(d.instances)", "\(d.bytes)", "\(d.clean)", "\(d.disarmed)", "\(d.rejected)", "\(d.discarded)",
             "\(d.delivered)", "\(d.threats)", "\(d.malware)", "\(d.mismatches)", "\(d.overrides)", String(format: "%.3f", d.throughputMBps)]
        }
        return (document(["day", "sessions", "instances", "bytes", "clean", "disarmed", "rejected", "discarded", "delivered",
                          "malware_files", "malware_findings", "mismatch_sessions", "override_sessions", "throughput_mb_s"], rows), rows.count)
    }

    static func facilities(_ statistics: Statistics) -> (String, Int) {
        let rows = statistics.facilities.map { f in
            [f.name, "\(f.discs)", "\(f.instances)", "\(f.withoutDICOMDIR)", "\(f.nonPDI)", "\(f.jpeg2000)", "\(f.malware)", "\(f.mismatches)"]
        }
        return (document(["facility", "sessions", "instances", "without_dicomdir", "not_ihe_pdi", "jpeg2000", "malware_sessions",
                          "mismatch_sessions"], rows), rows.count)
    }

    static func findings(_ statistics: Statistics) -> (String, Int) {
        let families = statistics.families.sorted { $0.key < $1.key }.map { ["family", $0.key, "\($0.value)"] }
        let codes = statistics.codes.sorted { $0.key < $1.key }.map { ["code", $0.key, "\($0.value)"] }
        return (document(["kind", "name", "findings"], families + codes), families.count + codes.count)
    }

    static func malware(_ statistics: Statistics) -> (String, Int) {
        let rows = AnalyticsCharts.malwareRows(statistics).map { [$0.engine, $0.signature, "\($0.count)"] }
        return (document(["engine", "signature", "findings"], rows), rows.count)
    }

    static func sessions(_ sessions: [FleetAnalytics.Session]) -> (String, Int) {
        let rows = sessions.map { s in
            [s.batch, s.source, s.kiosk ?? "", s.day, s.institutions.joined(separator: "; "), "\(s.instances)", "\(s.clean)", "\(s.disarmed)",
             "\(s.rejected)", "\(s.discarded)", "\(s.delivered)", "\(s.malwareFiles)", "\(s.mismatches)", s.overridden ? "yes" : "no",
             s.hasDICOMDIR ? "yes" : "no", s.pdiLayout ? "yes" : "no", "\(s.bytes)", String(format: "%.3f", s.seconds), s.checked ? "yes" : "no"]
        }
        return (document(["batch", "source", "kiosk", "day", "facilities", "instances", "clean", "disarmed", "rejected", "discarded",
                          "delivered", "malware_files", "mismatched_studies", "overridden", "dicomdir", "ihe_pdi", "bytes", "seconds",
                          "checked_by_worker"], rows), rows.count)
    }
}
