import Foundation

/// The portal's state directory (`/var/lib/dicom-portal` under systemd): each thing it keeps in its own place.
/// Nothing else names these paths.
public struct PortalStateDirectory: Sendable, Equatable, CustomStringConvertible {
    public let root: URL

    public init(_ root: URL) { self.root = root }

    public var description: String { root.path }

    /// The private PostgreSQL cluster, when no `[database] url` is configured.
    public var postgres: URL { root.appendingPathComponent("postgres") }
    /// The portal's certificate authority and the core's server certificate.
    public var pki: URL { root.appendingPathComponent("pki") }
    /// The edge link's own CA and core's client certificate for it (`EdgeLinkAuthority`).
    public var edgeLink: URL { pki.appendingPathComponent("edge-link") }
    /// Encrypted staged uploads, unless `[staging] directory` names a shared one.
    public var staging: URL { root.appendingPathComponent("staging") }
    /// The audit chain's head, copied here now and then by core (`AuditAnchors`): records removed from the end of
    /// the chain in the database show against it.
    public var auditAnchors: URL { root.appendingPathComponent("audit-anchors") }
    /// The edge's own state, when it runs from this directory: its store, staging, certificate and link files.
    public var edge: URL { root.appendingPathComponent("edge") }
    /// The admin console's own: its key for staff secrets (`console.key`) and, unless configured, its certificate.
    public var console: URL { root.appendingPathComponent("console") }
    /// A worker's pipeline state, laid out as a kiosk's (spool, quarantine, reports, scratch, sandbox).
    public var worker: URL { root.appendingPathComponent("worker") }
}
