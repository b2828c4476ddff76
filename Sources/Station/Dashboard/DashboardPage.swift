import Analytics
import Foundation
import SessionReport

/// The dashboard page: one self-contained HTML document with inline SVG charts, no scripts and no
/// external assets (the kiosk network may reach nothing else, and a CSP forbids it anyway).
public enum DashboardPage {
    public static func render(_ stats: Statistics, station: String, generated: Date) -> String {
        let days = Array(stats.days.suffix(30))
        var html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>kiosk-agent — scan analytics</title>
        <style>
        body{font-family:"DejaVu Sans",Arial,sans-serif;margin:0;background:#f4f6f8;color:#1d2733}
        header{background:#1d3557;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;font-size:13px;opacity:.85}
        main{padding:16px 24px;display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
        section{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
        section.wide{grid-column:1/-1}h2{font-size:16px;margin:0 0 10px}
        .tiles{display:flex;flex-wrap:wrap;gap:12px}.tile{flex:1 1 150px;background:#eef3f8;border-radius:6px;padding:10px 12px}
        .tile b{display:block;font-size:26px}.tile span{font-size:13px;color:#4a5a6a}.tile.alert{background:#fdecea}
        table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:right;padding:5px 8px;border-bottom:1px solid #e3e8ee}
        th:first-child,td:first-child{text-align:left}th{background:#f0f3f6}
        svg text{font-size:11px;fill:#34495e}.empty{color:#6b7b8b;font-style:italic}
        </style></head><body>
        <header><h1>Scan analytics</h1><p>Station \(Markup.escape(station)) · generated \(Markup.escape(timestamp(generated))) · no patient data is shown on this page</p></header>
        <main>
        <section class="wide"><h2>Totals</h2><div class="tiles">
        """
        html += tile("sessions", stats.sessions, "sessions")
        html += tile("instances", stats.instances, "instances imported")
        html += tile("malware", stats.malwareFiles, "files with malware", alert: stats.malwareFiles > 0)
        html += tile("mismatches", stats.mismatchSessions, "identity mismatches", alert: stats.mismatchSessions > 0)
        html += tile("overrides", stats.overrides, "imported by override")
        html += "<div class=\"tile\"><b id=\"throughput\">\(String(format: "%.1f", stats.throughputMBps))</b><span>MB/s read</span></div>"
        html += "</div></section>\n"
        html += chart("Sessions per day", id: "chart-sessions", days.map { ($0.date, Double($0.sessions)) }, color: "#457b9d")
        html += chart("Instances imported per day", id: "chart-instances", days.map { ($0.date, Double($0.instances)) }, color: "#2a9d8f")
        html += bars("Findings by family", id: "chart-families",
                     stats.families.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { ($0.key, Double($0.value)) })
        html += chart("Identity mismatches per day", id: "chart-mismatches", days.map { ($0.date, Double($0.mismatches)) }, color: "#e76f51")
        html += chart("Throughput per day (MB/s)", id: "chart-throughput",
                      days.map { ($0.date, $0.seconds > 0 ? Double($0.bytes) / 1_000_000 / $0.seconds : 0) }, color: "#6d597a")
        html += facilities(stats.facilities)
        html += "</main></body></html>\n"
        return html
    }

    private static func tile(_ id: String, _ value: Int, _ label: String, alert: Bool = false) -> String {
        "<div class=\"tile\(alert ? " alert" : "")\"><b id=\"\(id)\">\(value)</b><span>\(Markup.escape(label))</span></div>"
    }

    /// A vertical bar chart over days (SVGChart, shared with the portal's console).
    private static func chart(_ title: String, id: String, _ points: [(String, Double)], color: String) -> String {
        guard let svg = SVGChart.columns(title, id: id, points.map { SVGChart.Bar($0.0, $0.1) }, color: color) else {
            return "<section><h2>\(Markup.escape(title))</h2><p class=\"empty\" id=\"\(id)\">No data yet.</p></section>\n"
        }
        return "<section><h2>\(Markup.escape(title))</h2>\(svg)</section>\n"
    }

    /// A horizontal bar chart over finding families, malware and programs in red.
    private static func bars(_ title: String, id: String, _ items: [(String, Double)]) -> String {
        let bars = items.map { SVGChart.Bar($0.0, $0.1, alarming: SVGChart.alarmingFamilies.contains(FindingCode.Family(rawValue: $0.0))) }
        guard let svg = SVGChart.bars(title, id: id, bars) else {
            return "<section><h2>\(Markup.escape(title))</h2><p class=\"empty\" id=\"\(id)\">No findings yet.</p></section>\n"
        }
        return "<section><h2>\(Markup.escape(title))</h2>\(svg)</section>\n"
    }

    private static func facilities(_ facilities: [Statistics.Facility]) -> String {
        var html = "<section class=\"wide\"><h2>Sending facilities (Institution Name)</h2>"
        guard !facilities.isEmpty else { return html + "<p class=\"empty\">No discs yet.</p></section>\n" }
        html += "<table id=\"facilities\"><thead><tr><th>Facility</th><th>Discs</th><th>Instances</th><th>Without DICOMDIR</th>"
            + "<th>Not IHE PDI</th><th>JPEG 2000</th><th>Malware</th></tr></thead><tbody>"
        for f in facilities.prefix(50) {
            html += "<tr><td>\(Markup.escape(f.name))</td><td>\(f.discs)</td><td>\(f.instances)</td><td>\(f.withoutDICOMDIR)</td>"
                + "<td>\(f.nonPDI)</td><td>\(f.jpeg2000)</td><td>\(f.malware)</td></tr>"
        }
        return html + "</tbody></table></section>\n"
    }


    private static func timestamp(_ date: Date) -> String {
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return format.string(from: date)
    }
}
