import AgentConfiguration
import ATNA
import AuditTrail
import Foundation

/// The ATNA forwarder from `[atna]` (nil when no repository is configured).
public enum ATNASetup {
    public static func forwarder(_ stateDirectory: StateDirectory, _ configuration: Configuration) throws -> AuditForwarder? {
        guard let sender = try sender(configuration) else { return nil }
        let host = hostName()
        let mapping = EventMapping(aeTitle: configuration.delivery.callingAE, host: host,
                                   source: AuditSource(id: configuration.atna.auditSourceID ?? host, enterpriseSiteID: configuration.atna.enterpriseSiteID))
        return AuditForwarder(directory: stateDirectory.audit, mapping: mapping, sender: sender)
    }

    /// The transport to the repository `[atna]` names (TLS material falling back to `[tls]`); nil when none is
    /// configured. The portal's core sends its own records through it too.
    public static func sender(_ configuration: Configuration) throws -> SyslogSender? {
        let settings = configuration.atna
        guard let address = settings.repository else { return nil }
        let repository: AuditRepository
        do { repository = try AuditRepository(parsing: address) } catch { throw SetupError("[atna] repository: \(error)") }
        var tls: Configuration.TLSSettings?
        if repository.transport == .tls {
            let shared = configuration.tls
            var merged = Configuration.TLSSettings()
            merged.caFile = settings.caFile ?? shared.caFile
            merged.certificateFile = settings.certificateFile ?? shared.certificateFile
            merged.privateKeyFile = settings.privateKeyFile ?? shared.privateKeyFile
            merged.verifyHostname = settings.verifyHostname ?? shared.verifyHostname
            tls = merged
        }
        return SyslogSender(repository: repository, tls: try tls.map { try DeliverySetup.tls($0, table: "atna") },
                            timeoutSeconds: settings.timeoutSeconds)
    }

    /// Forwards what is queued; a failure is a warning (the records wait in the trail).
    public static func forward(_ forwarder: AuditForwarder?, wait: Bool = false, log: (String) -> Void) async {
        guard let forwarder else { return }
        let outcome = await forwarder.forward(wait: wait)
        if let error = outcome.error {
            log("warning: ATNA: \(error); \(forwarder.queued()) record(s) stay queued and are sent when \(forwarder.sender.repository) answers")
        }
        if outcome.skipped > 0 { log("warning: ATNA: \(outcome.skipped) message(s) larger than a UDP datagram were not sent") }
    }

    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
