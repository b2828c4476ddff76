import Foundation

/// The audit search as CSV (RFC 4180: CRLF line ends, fields quoted when they hold a comma, quote or line break).
/// A field a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`, so an
/// audit record naming a hostile value cannot run in an auditor's spreadsheet.
public enum AuditCSV {
    public static let header = line(["seq", "at", "event_type", "actor", "detail"])

    public static func row(_ record: AuditEntry) -> String {
        line([String(record.seq), timestamp(record.at), record.eventType, record.actor, record.detail.canonical])
    }

    public static func line(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",") + "\r\n"
    }

    static func field(_ value: String) -> String {
        var text = value
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) { text = "'" + text }
        guard text.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// UTC with milliseconds, as the console shows times.
    public static func timestamp(_ date: Date) -> String {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return format.string(from: date)
    }
}
