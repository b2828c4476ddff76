import Analytics
import Foundation
import Logging
import PortalStore
import Prometheus

/// Core's Prometheus metrics, read from the database at each scrape (they describe the fleet, which every core
/// process sees alike): the job queue, batches by state, the delivery backlog, how long ago each kiosk was last
/// seen, live workers, and the audit chain's head. Served by `[core] metrics_listen`.
public struct CoreMetrics: Sendable {
    let database: PortalDatabase
    let leaseSeconds: Double
    let logger: Logger

    public init(database: PortalDatabase, leaseSeconds: Double, logger: Logger) {
        self.database = database
        self.leaseSeconds = leaseSeconds
        self.logger = logger
    }

    public func render() async -> String {
        let registry = PrometheusCollectorRegistry()
        let up = registry.makeGauge(descriptor: Self.metric("portal_database_up", "1 when the database answered this scrape"))
        let today = Statistics.day(Date())
        let status: FleetStatus
        do {
            status = try await FleetStatusReader(database, leaseSeconds: leaseSeconds).status(from: today, to: today)
        } catch {
            logger.warning("metrics: the database does not answer", metadata: ["error": "\(error)"])
            up.set(Int64(0))
            return registry.emitToString()
        }
        up.set(Int64(1))
        for state in ["queued", "running", "done", "dead"] {
            registry.makeGauge(descriptor: Self.metric("portal_jobs", "Jobs by state"), labels: [("state", state)])
                .set(Int64(status.queue.byState[state] ?? 0))
        }
        registry.makeGauge(descriptor: Self.metric("portal_jobs_oldest_queued_seconds", "How long the oldest due queued job has waited"))
            .set(status.queue.oldestQueuedSeconds ?? 0)
        for (state, count) in status.batchesByState.sorted(by: { $0.key < $1.key }) {
            registry.makeGauge(descriptor: Self.metric("portal_batches", "Batches by state"), labels: [("state", state)]).set(Int64(count))
        }
        registry.makeGauge(descriptor: Self.metric("portal_batches_waiting", "Batches committed or being processed"))
            .set(Int64(status.batchesWaiting))
        for destination in status.deliveries {
            registry.makeGauge(descriptor: Self.metric("portal_deliveries_pending", "Instances waiting for a destination"),
                               labels: [("destination", destination.destination)]).set(Int64(destination.pending))
            registry.makeGauge(descriptor: Self.metric("portal_deliveries_failed", "Instances a destination refused"),
                               labels: [("destination", destination.destination)]).set(Int64(destination.failed))
        }
        let now = Date()
        for kiosk in status.kiosks where !kiosk.revoked {
            guard let seen = kiosk.lastSeenAt else { continue }
            registry.makeGauge(descriptor: Self.metric("portal_kiosk_last_seen_age_seconds", "Seconds since a kiosk last connected or uploaded"),
                               labels: [("kiosk", kiosk.name)]).set(max(0, now.timeIntervalSince(seen)))
        }
        registry.makeGauge(descriptor: Self.metric("portal_workers_alive", "Workers seen within three lease renewals"))
            .set(Int64(status.workers.filter(\.alive).count))
        registry.makeGauge(descriptor: Self.metric("portal_audit_head_seq", "Sequence number of the audit chain's last record"))
            .set(status.auditHeadSeq)
        return registry.emitToString()
    }

    private static func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
