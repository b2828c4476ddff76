import Foundation

/// Which sessions an analytics view counts: a period of whole UTC days, and optionally one sending facility
/// (Institution Name), one kiosk, one source.
public struct AnalyticsFilter: Codable, Sendable, Equatable {
    public enum Source: String, Codable, Sendable, CaseIterable {
        /// Discs imported at a kiosk's desk.
        case kiosk
        /// Patients' own uploads through the portal.
        case portal
    }

    /// The longest period one view reads, so a request stays bounded.
    public static let maximumDays = 366
    /// Without a period: the last 30 days.
    public static let defaultDays = 30

    /// First and last day, `yyyy-MM-dd`, inclusive.
    public let from: String
    public let to: String
    public let facility: String?
    public let kiosk: String?
    public let source: Source?

    /// Validates each value; `today` (UTC) makes the default period.
    public init(from: String?, to: String?, facility: String?, kiosk: String?, source: String?, today: Date = Date()) throws(AnalyticsFilterError) {
        let last = try Self.date(to, field: "to") ?? Self.startOfDay(today)
        let first = try Self.date(from, field: "from") ?? last.addingTimeInterval(-Double(Self.defaultDays - 1) * 86400)
        guard first <= last else { throw .reversed(from: Self.text(first), to: Self.text(last)) }
        let days = Int((last.timeIntervalSince(first) / 86400).rounded()) + 1
        guard days <= Self.maximumDays else { throw .tooLong(days: days) }
        self.from = Self.text(first)
        self.to = Self.text(last)
        self.facility = try Self.name(facility, field: "facility", limit: 64)
        self.kiosk = try Self.name(kiosk, field: "kiosk", limit: 64)
        if let source, !source.isEmpty {
            guard let value = Source(rawValue: source) else { throw .source(source) }
            self.source = value
        } else {
            self.source = nil
        }
    }

    /// The filter's days in order.
    public var days: [String] {
        guard let first = Self.parse(from), let last = Self.parse(to) else { return [] }
        var days: [String] = []
        var day = first
        while day <= last && days.count < Self.maximumDays {
            days.append(Self.text(day))
            day.addTimeInterval(86400)
        }
        return days
    }

    private static func date(_ text: String?, field: String) throws(AnalyticsFilterError) -> Date? {
        guard let text, !text.isEmpty else { return nil }
        guard text.utf8.count == 10, let date = parse(text) else { throw .date(field: field, value: String(text.prefix(40))) }
        return date
    }

    private static func name(_ text: String?, field: String, limit: Int) throws(AnalyticsFilterError) -> String? {
        guard let text, !text.isEmpty else { return nil }
        guard text.count <= limit, !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .name(field: field, limit: limit)
        }
        return text
    }

    static func parse(_ text: String) -> Date? {
        let format = formatter()
        guard let date = format.date(from: text), format.string(from: date) == text else { return nil }
        return date
    }

    static func text(_ date: Date) -> String { formatter().string(from: date) }

    static func startOfDay(_ date: Date) -> Date { parse(text(date)) ?? date }

    private static func formatter() -> DateFormatter {
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = "yyyy-MM-dd"
        return format
    }
}

public enum AnalyticsFilterError: Error, Equatable, CustomStringConvertible {
    case date(field: String, value: String)
    case reversed(from: String, to: String)
    case tooLong(days: Int)
    case name(field: String, limit: Int)
    case source(String)

    /// A stable code for the console's message catalogue.
    public var code: String {
        switch self {
        case .date: "bad-date"
        case .reversed: "reversed-period"
        case .tooLong: "period-too-long"
        case .name: "bad-name"
        case .source: "bad-source"
        }
    }

    public var description: String {
        switch self {
        case .date(let field, let value): "\"\(field)\" must be a day as YYYY-MM-DD (got \"\(value)\")."
        case .reversed(let from, let to): "The period starts (\(from)) after it ends (\(to)): swap \"from\" and \"to\"."
        case .tooLong(let days): "The period is \(days) days; choose at most \(AnalyticsFilter.maximumDays)."
        case .name(let field, let limit): "\"\(field)\" must be at most \(limit) characters without control characters."
        case .source(let value): "\"source\" must be kiosk or portal (got \"\(value.prefix(20))\")."
        }
    }
}
