import Foundation
import SessionReport

/// Bar charts as SVG, drawn where the numbers are (the kiosk's dashboard inlines them in its page, the portal's
/// console serves them as `image/svg+xml`), so neither needs a script. Every text is escaped with `Markup`; styling is
/// by presentation attributes, since a chart loaded as an image takes no style sheet.
public enum SVGChart {
    /// One bar: its label, value and whether it is drawn as an alarm.
    public struct Bar: Sendable, Equatable {
        public var label: String
        public var value: Double
        public var alarming: Bool

        public init(_ label: String, _ value: Double, alarming: Bool = false) {
            self.label = label; self.value = value; self.alarming = alarming
        }
    }

    /// How a chart is embedded: inline in an HTML page, or a standalone SVG document.
    public enum Form: Sendable {
        case inline
        case document
    }

    static let textColor = "#34495e"
    static let alarmColor = "#c0392b"
    public static let defaultColor = "#457b9d"

    /// Vertical bars over days (or any ordered labels), the last five characters of a label under its bar; nil when
    /// no bar has a value.
    public static func columns(_ title: String, id: String? = nil, _ points: [Bar], color: String = defaultColor, form: Form = .inline) -> String? {
        guard !points.isEmpty, points.contains(where: { $0.value > 0 }) else { return nil }
        let width = 460.0, height = 200.0, left = 36.0, bottom = 38.0
        let maximum = points.map(\.value).max() ?? 1
        let step = (width - left) / Double(points.count)
        var svg = open(title, id: id, width: width, height: height, form: form)
        svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width)\" y2=\"\(height - bottom)\" stroke=\"#9aa8b6\"/>"
        svg += text(x: 2, y: 12, number(maximum))
        for (index, point) in points.enumerated() {
            let h = maximum > 0 ? (height - bottom - 16) * point.value / maximum : 0
            let x = left + Double(index) * step + step * 0.15
            svg += "<rect x=\"\(fmt(x))\" y=\"\(fmt(height - bottom - h))\" width=\"\(fmt(step * 0.7))\" height=\"\(fmt(h))\" "
                + "fill=\"\(Markup.escape(point.alarming ? alarmColor : color))\"><title>\(Markup.escape(point.label)): \(number(point.value))</title></rect>"
            if points.count <= 10 || index % max(points.count / 8, 1) == 0 {
                svg += text(x: x, y: height - bottom + 14, String(point.label.suffix(5)))
            }
            if points.count <= 14 && point.value > 0 {
                svg += text(x: x, y: height - bottom - h - 3, number(point.value))
            }
        }
        return svg + "</svg>"
    }

    /// Horizontal bars over categories, at most `limit`, labels shortened to fit (the whole label in the bar's
    /// title); nil when there are none.
    public static func bars(_ title: String, id: String? = nil, _ items: [Bar], limit: Int = 12, form: Form = .inline) -> String? {
        guard !items.isEmpty else { return nil }
        let rows = Array(items.prefix(limit))
        let width = 460.0, row = 20.0, left = 150.0
        let maximum = rows.map(\.value).max() ?? 1
        var svg = open(title, id: id, width: width, height: row * Double(rows.count) + 6, form: form)
        for (index, item) in rows.enumerated() {
            let y = Double(index) * row + 3
            let w = (width - left - 50) * item.value / max(maximum, 1)
            let label = item.label.count > 24 ? String(item.label.prefix(23)) + "…" : item.label
            svg += text(x: 0, y: y + 13, label)
                + "<rect x=\"\(left)\" y=\"\(fmt(y))\" width=\"\(fmt(w))\" height=\"\(row - 6)\" fill=\"\(item.alarming ? alarmColor : defaultColor)\">"
                + "<title>\(Markup.escape(item.label)): \(number(item.value))</title></rect>"
                + text(x: left + w + 4, y: y + 13, number(item.value))
        }
        return svg + "</svg>"
    }

    /// A standalone chart that says there is nothing to draw (an image that is missing would show a broken icon).
    public static func empty(_ title: String, message: String) -> String {
        open(title, id: nil, width: 460, height: 40, form: .document) + text(x: 0, y: 24, message) + "</svg>"
    }

    /// Families drawn as alarms: malware and programs.
    public static let alarmingFamilies: Set<FindingCode.Family> = [.malware, .preamble, .executable, .autorun]

    private static func open(_ title: String, id: String?, width: Double, height: Double, form: Form) -> String {
        var svg = form == .document ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"" : "<svg"
        if let id { svg += " id=\"\(Markup.escape(id))\"" }
        svg += " viewBox=\"0 0 \(Int(width)) \(Int(height))\""
        svg += form == .document ? " width=\"\(Int(width))\" height=\"\(Int(height))\"" : " width=\"100%\""
        svg += " role=\"img\" aria-label=\"\(Markup.escape(title))\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"11\">"
        return svg + "<title>\(Markup.escape(title))</title>"
    }

    private static func text(x: Double, y: Double, _ content: String) -> String {
        "<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" fill=\"\(textColor)\">\(Markup.escape(content))</text>"
    }

    static func fmt(_ value: Double) -> String { String(format: "%.1f", value) }
    static func number(_ value: Double) -> String {
        value.isFinite && abs(value) < 1e15 && value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}
