import Foundation
import PortalPKI
import PortalProtocol
import SessionReport

extension KioskManifest {
    /// The manifest of `session` as the kiosk has it at the end of an ingest: its report, and every instance the
    /// spool holds for `destination` from that session (SOP Instance UID, SHA-256 and size of the bytes uploaded).
    /// Instances the destination already refused for good are left out: core would otherwise wait for an upload
    /// that never comes and never commit the batch.
    ///
    /// - Parameters:
    ///   - kiosk: the kiosk's name as its certificate carries it (``KioskCredentials/name``).
    ///   - operatorName: the signed-in operator, or `cli` for a command-line ingest.
    ///   - audit: the session's audit trail records, one JSON line each.
    ///   - trail: the session's lines of the trail as written, ending with their signed checkpoint; `auditKey` its
    ///     `audit.pub`.
    public static func build(
        session: String, report: Report, spool: Spool, destination: String, kiosk: String, operatorName: String,
        audit: [String] = [], analytics: JSONDocument? = nil, trail: [String]? = nil, auditKey: String? = nil
    ) throws -> KioskManifest {
        let rows = try spool.instances(destination: destination, session: session, states: [.pending, .sending, .stored])
        return KioskManifest(
            kiosk: kiosk, session: session, operatorName: operatorName, report: try ReportDocument(report),
            instances: rows.map { Instance(sopInstanceUID: $0.sopInstanceUID, sha256: $0.sha256, size: $0.size) },
            audit: audit, analytics: analytics, trail: trail, auditKey: auditKey)
    }
}

extension SpoolDrainer {
    /// For a portal destination, sends the session manifests waiting in the spool's outbox
    /// (`SPOOL/portal-manifests`); nothing for other destinations. ``drain(moreComing:deadline:)`` calls it
    /// once it has nothing more to send; a loop of its own that calls only ``drainOnce()`` must call this too.
    @discardableResult
    public func sendManifests() async -> [PortalTarget.ManifestOutcome] {
        guard let portal = target as? PortalTarget else { return [] }
        do {
            return await portal.sendPendingManifests(try PortalManifests(spoolDirectory: spool.directory))
        } catch {
            return []
        }
    }
}
