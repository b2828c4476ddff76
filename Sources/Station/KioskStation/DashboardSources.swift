import Analytics
import ATNA
import AgentConfiguration
import Dashboard
import Delivery
import Foundation
import IngestPipeline

/// What the dashboard reads: the analytics summaries, the spool and the ATNA queue.
public enum DashboardSources {
    public static func make(_ stateDirectory: StateDirectory, _ configuration: Configuration) -> DashboardServer.Sources {
        let analytics = AnalyticsStore(directory: stateDirectory.analytics)
        let forwarder = try? ATNASetup.forwarder(stateDirectory, configuration)
        let spool = stateDirectory.spool
        return .init(statistics: {
            let loaded = analytics.load()
            return Statistics(loaded.summaries, unreadable: loaded.unreadable)
        }, spoolPending: {
            guard FileManager.default.fileExists(atPath: spool.appendingPathComponent("spool.sqlite").path) else { return nil }
            return try? Spool.unacknowledged(in: spool)
        }, auditQueued: { forwarder?.queued() }, station: configuration.receipt.station ?? ATNASetup.hostName())
    }
}
