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
    /// Encrypted staged uploads, unless `[staging] directory` names a shared one.
    public var staging: URL { root.appendingPathComponent("staging") }
    /// A worker's pipeline state, laid out as a kiosk's (spool, quarantine, reports, scratch, sandbox).
    public var worker: URL { root.appendingPathComponent("worker") }
}
