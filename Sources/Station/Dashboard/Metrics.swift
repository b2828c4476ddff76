import Analytics
import Prometheus

/// Prometheus metrics (text format 0.0.4) from the same statistics as the dashboard. The values
/// are totals over the kept summaries, so counters only grow while the summaries are kept.
public enum Metrics {
    public static func render(_ stats: Statistics, spoolPending: Int?, auditQueued: Int?) -> String {
        let registry = PrometheusCollectorRegistry()
        for (result, count) in stats.results.sorted(by: { $0.key < $1.key }) {
            registry.makeCounter(descriptor: metric("kiosk_sessions_total",
                                 "Sessions by exit code (0 delivered, 3 some rejected, 4 identity, 5 unreadable, 6 pending, 7 no room)"),
                                 labels: [("exit", result)])
                .increment(by: Int64(count))
        }
        let counters: [(String, Int, String)] = [
            ("kiosk_instances_imported_total", stats.instances, "DICOM instances imported"),
            ("kiosk_instances_delivered_total", stats.delivered, "Instances delivered to the destination"),
            ("kiosk_instances_rejected_total", stats.rejected, "DICOM files refused and quarantined"),
            ("kiosk_files_discarded_total", stats.discarded, "Non-DICOM files left out (viewers, autorun, documents)"),
            ("kiosk_malware_files_total", stats.malwareFiles, "Files in which an engine found malware"),
            ("kiosk_identity_mismatch_sessions_total", stats.mismatchSessions, "Sessions with an identity mismatch"),
            ("kiosk_identity_overrides_total", stats.overrides, "Mismatches imported by recorded override"),
        ]
        for (name, value, help) in counters { registry.makeCounter(descriptor: metric(name, help)).increment(by: Int64(value)) }
        registry.makeCounter(descriptor: metric("kiosk_media_bytes_read_total", "Bytes of media read")).increment(by: stats.bytes)
        registry.makeCounter(descriptor: metric("kiosk_session_seconds_total", "Time spent in sessions")).increment(by: stats.seconds)
        for (family, count) in stats.families.sorted(by: { $0.key < $1.key }) {
            registry.makeCounter(descriptor: metric("kiosk_findings_total", "Findings by family"), labels: [("family", family)]).increment(by: Int64(count))
        }
        if let spoolPending {
            registry.makeGauge(descriptor: metric("kiosk_spool_pending", "Instances waiting in the spool")).set(Int64(spoolPending))
        }
        if let auditQueued {
            registry.makeGauge(descriptor: metric("kiosk_atna_queued_records", "Audit records not yet sent to the ATNA repository")).set(Int64(auditQueued))
        }
        return registry.emitToString()
    }

    /// The full metric name as given (no unit suffix added), with its help line.
    private static func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
