import Analytics
import Foundation
import PortalStore
import SessionReport

/// The console's charts of a `FleetAnalytics.Report`, drawn by `SVGChart` (the kiosk dashboard's drawing code).
enum AnalyticsCharts {
    enum Name: String, CaseIterable {
        case sessions, instances, throughput, verdicts, families, codes, malware, facilities
    }

    static func svg(_ name: Name, _ statistics: Statistics) -> String {
        let days = statistics.days
        let title: String
        let drawn: String?
        switch name {
        case .sessions:
            title = "Sessions per day"
            drawn = SVGChart.columns(title, days.map { SVGChart.Bar($0.date, Double($0.sessions)) }, form: .document)
        case .instances:
            title = "Instances per day"
            drawn = SVGChart.columns(title, days.map { SVGChart.Bar($0.date, Double($0.instances)) }, color: "#2a9d8f", form: .document)
        case .throughput:
            title = "Throughput per day (MB/s)"
            drawn = SVGChart.columns(title, days.map { SVGChart.Bar($0.date, $0.throughputMBps) }, color: "#6d597a", form: .document)
        case .verdicts:
            title = "Instances by verdict"
            drawn = SVGChart.bars(title, [
                SVGChart.Bar("clean", Double(statistics.clean)), SVGChart.Bar("disarmed", Double(statistics.disarmed)),
                SVGChart.Bar("rejected", Double(statistics.rejected), alarming: statistics.rejected > 0),
                SVGChart.Bar("discarded", Double(statistics.discarded)), SVGChart.Bar("delivered", Double(statistics.delivered)),
            ].filter { $0.value > 0 }, form: .document)
        case .families:
            title = "Findings by family"
            drawn = SVGChart.bars(title, ranked(statistics.families).map {
                SVGChart.Bar($0.key, Double($0.value), alarming: SVGChart.alarmingFamilies.contains(FindingCode.Family(rawValue: $0.key)))
            }, form: .document)
        case .codes:
            title = "Findings by code"
            drawn = SVGChart.bars(title, ranked(statistics.codes).map {
                SVGChart.Bar($0.key, Double($0.value), alarming: SVGChart.alarmingFamilies.contains(FindingCode(rawValue: $0.key).family))
            }, limit: 20, form: .document)
        case .malware:
            title = "Malware by signature"
            drawn = SVGChart.bars(title, malwareRows(statistics).map { SVGChart.Bar("\($0.signature) (\($0.engine))", Double($0.count), alarming: true) },
                                  limit: 20, form: .document)
        case .facilities:
            title = "Sessions by sending facility"
            drawn = SVGChart.bars(title, statistics.facilities.map { SVGChart.Bar($0.name, Double($0.discs), alarming: $0.malware > 0) },
                                  limit: 20, form: .document)
        }
        return drawn ?? SVGChart.empty(title, message: "Nothing in this period.")
    }

    static func ranked(_ counts: [String: Int]) -> [(key: String, value: Int)] {
        counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
    }

    /// Malware findings per engine and signature, most first.
    static func malwareRows(_ statistics: Statistics) -> [(engine: String, signature: String, count: Int)] {
        statistics.malware.flatMap { engine, signatures in signatures.map { (engine: engine, signature: $0.key, count: $0.value) } }
            .sorted { ($0.count, $1.engine, $1.signature) > ($1.count, $0.engine, $0.signature) }
    }
}
