import Foundation

/// The state directory's layout: everything the agent keeps, each in its own place under one root
/// (`/var/lib/kiosk-agent` under systemd). Nothing else names these paths.
public struct StateDirectory: Sendable, Equatable, CustomStringConvertible {
    public let root: URL

    public init(_ root: URL) { self.root = root }

    public var description: String { root.path }

    /// The embedded archive (`archive:` with no path).
    public var archive: URL { root.appendingPathComponent("archive") }
    /// The durable queue for network destinations.
    public var spool: URL { root.appendingPathComponent("spool") }
    /// The hash-chained audit trail, its keys and the ATNA forwarding cursor.
    public var audit: URL { root.appendingPathComponent("audit") }
    /// Per-session summaries without patient data.
    public var analytics: URL { root.appendingPathComponent("analytics") }
    /// Every session's report, kept for audit.
    public var reports: URL { root.appendingPathComponent("reports") }
    public func report(_ session: String) -> URL { reports.appendingPathComponent("\(session).json") }
    /// Session receipts (HTML and printer text).
    public var receipts: URL { root.appendingPathComponent("receipts") }
    /// Rejected originals, per session, for forensics.
    public func quarantine(_ session: String) -> URL { root.appendingPathComponent("quarantine").appendingPathComponent(session) }
    /// The agent's own temporary files of a session (scan bodies too large for memory).
    public func temporary(_ session: String) -> URL { root.appendingPathComponent("tmp").appendingPathComponent(session) }
    /// The media helper's only writable directory during a session.
    public func sandboxScratch(_ session: String) -> URL { root.appendingPathComponent("sandbox").appendingPathComponent(session) }
    /// Operators' PIN hashes and TOTP secrets.
    public var operators: URL { root.appendingPathComponent("operators") }
    /// The service's log when the operator screen holds the terminal.
    public var logs: URL { root.appendingPathComponent("logs") }
}
