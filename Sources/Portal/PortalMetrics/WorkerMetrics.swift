import Prometheus
import SessionReport

/// A worker's Prometheus metrics since it started: batches processed and failed, how long protecting a batch took,
/// and the instances by verdict. Served by `[worker] metrics_listen`.
public final class WorkerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let processed: Counter
    private let failed: Counter
    private let duration: DurationHistogram

    public init() {
        processed = registry.makeCounter(descriptor: Self.metric("portal_worker_batches_processed_total", "Batches this worker protected and recorded"))
        failed = registry.makeCounter(descriptor: Self.metric("portal_worker_batches_failed_total",
                                                         "Batches that failed in this worker (retried later or dead-lettered)"))
        duration = registry.makeDurationHistogram(descriptor: Self.metric("portal_worker_protect_duration_seconds",
                                                                     "Time from claiming a batch to recording its outcome"),
                                                  buckets: [.seconds(1), .seconds(5), .seconds(15), .seconds(60), .seconds(300),
                                                            .seconds(900), .seconds(3600)])
    }

    public func batchRecorded(_ report: Report, after elapsed: Duration) {
        processed.increment()
        duration.record(elapsed)
        for file in report.files {
            registry.makeCounter(descriptor: Self.metric("portal_worker_files_total", "Files of recorded batches by verdict"),
                                 labels: [("verdict", file.verdict.rawValue)]).increment()
        }
    }

    public func batchFailed() { failed.increment() }

    /// The full metric name as given (no unit suffix added), with its help line.
    private static func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The metrics as Prometheus text.
    public func render() -> String { registry.emitToString() }
}
