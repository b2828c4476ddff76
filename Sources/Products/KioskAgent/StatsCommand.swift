import AgentConfiguration
import Analytics
import ArgumentParser
import ATNA
import Dashboard
import Delivery
import Foundation
import Logging
import ServiceLifecycle
import IngestPipeline
import KioskStation

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Scan analytics in the terminal: sessions, instances, threats, identity mismatches, throughput, sending facilities (no patient data).")

    @Option(help: "Only sessions from this date on (ISO 8601, e.g. 2026-11-01).")
    var since: String?

    @Flag(help: "Print the statistics as JSON.")
    var json = false

    @OptionGroup var common: CommonOptions

    func run() throws {
        var start: Date?
        if let since {
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            guard let date = ISO8601DateFormatter().date(from: since) ?? day.date(from: since) else {
                throw ValidationError("--since must be an ISO 8601 date (2026-11-01) or time (2026-11-01T08:00:00Z)")
            }
            start = date
        }
        let loaded = AnalyticsStore(directory: try common.existingStateDirectory().analytics).load()
        let stats = Statistics(loaded.summaries, unreadable: loaded.unreadable, since: start)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(stats), as: UTF8.self))
        } else {
            print(stats.text(), terminator: "")
        }
    }
}

struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve the read-only analytics dashboard and /metrics on 127.0.0.1 (the service does this itself; this is for a copy of a state directory).",
        discussion: "Pages: / (charts), /api/stats (JSON), /metrics (Prometheus). Stops on SIGINT or SIGTERM.")

    @Option(help: "TCP port on 127.0.0.1 (default [dashboard] port; 0 picks a free one).")
    var port: Int?

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let configuration = try common.loadConfiguration()
        let server = DashboardServer(port: port ?? configuration.dashboard.port,
                                     sources: DashboardSources.make(try common.existingStateDirectory(), configuration))
        var logger = Logger(label: "kiosk-agent.dashboard")
        logger.logLevel = .warning
        let service = server.service { FileHandle.standardOutput.write(Data("dashboard on http://127.0.0.1:\($0)/\n".utf8)) }
        try await ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
    }
}
