import Prometheus

/// The edge's Prometheus metrics since it started: security events by type (sign-ins, failures, lockouts, uploads
/// submitted), uploads completed and their bytes, and at each scrape the sessions by state. Served by
/// `[edge] metrics_listen`. No patient data: events are counted by type alone.
public final class EdgeMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let uploads: Counter
    private let bytes: Counter
    private let signInFailures: Counter
    private let lockouts: Counter

    /// The event types that are a failed sign-in (password or second factor).
    static let signInFailureEvents: Set<String> = ["signin.password-failed", "second-factor.failed", "signin.throttled"]

    public init() {
        uploads = registry.makeCounter(descriptor: Self.metric("portal_edge_uploads_completed_total", "Uploads whose last byte arrived"))
        bytes = registry.makeCounter(descriptor: Self.metric("portal_edge_upload_bytes_total", "Bytes of completed uploads"))
        signInFailures = registry.makeCounter(descriptor: Self.metric("portal_edge_signin_failures_total",
                                                                      "Refused sign-ins: wrong password, wrong second factor, throttled"))
        lockouts = registry.makeCounter(descriptor: Self.metric("portal_edge_lockouts_total", "Accounts locked after repeated second-factor failures"))
    }

    /// A security event was recorded.
    public func observe(_ type: String) {
        registry.makeCounter(descriptor: Self.metric("portal_edge_events_total", "Security events by type"), labels: [("event", type)]).increment()
        if Self.signInFailureEvents.contains(type) { signInFailures.increment() }
        if type == "account.locked" { lockouts.increment() }
    }

    public func uploadCompleted(bytes count: Int64) {
        uploads.increment()
        bytes.increment(by: count)
    }

    /// The metrics as Prometheus text, with the browser sessions by state as they are now.
    public func render(sessions: [String: Int]) -> String {
        for state in ["anonymous", "enrolling", "second-factor", "signed-in"] {
            registry.makeGauge(descriptor: Self.metric("portal_edge_sessions", "Browser sessions by state"), labels: [("state", state)])
                .set(Int64(sessions[state] ?? 0))
        }
        return registry.emitToString()
    }

    private static func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
