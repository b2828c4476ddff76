import AgentConfiguration
import DICOMCore
import Foundation
import LibClamAV
import Protector
import Scanner

/// Builds the Protector a command runs: its policy from the configuration, and its engines — in the
/// sandboxed scanner process, started once for the whole run: libclamav loaded and compiled once,
/// clamd and ICAP when configured. A missing
/// or broken signature database is a configuration error (exit 2): the agent never runs unscanned.
public enum ProtectorSetup {
    public static func make(_ configuration: Configuration, signatures override: [String], reconciliation: Reconciliation? = nil) throws -> Protector {
        Protector(policy: policy(configuration, reconciliation: reconciliation), engines: try engines(configuration.engines, signatures: override))
    }

    public static func policy(_ configuration: Configuration, reconciliation: Reconciliation?) -> ProtectorPolicy {
        var parsing = ParsingOptions()
        parsing.maxDepth = configuration.maxNestingDepth
        parsing.maxElements = configuration.maxElements
        parsing.maxFileSize = configuration.maxFileSize
        var policy = ProtectorPolicy(parsing: parsing, implementationClassUID: KioskAgentVersion.implementationClassUID,
                                     implementationVersionName: KioskAgentVersion.implementationVersionName)
        let settings = configuration.protector
        policy.keptPrivateCreators = Set(settings.keepPrivateCreators)
        policy.icons = ProtectorPolicy.ContentRule(rawValue: settings.icons) ?? .drop
        policy.overlays = ProtectorPolicy.ContentRule(rawValue: settings.overlays) ?? .keep
        policy.documents = ProtectorPolicy.ContentRule(rawValue: settings.documents) ?? .keep
        policy.activeDocuments = ProtectorPolicy.ActiveDocumentRule(rawValue: settings.activeDocuments) ?? .reject
        policy.allowTIFFPreamble = settings.allowTIFFPreamble
        policy.acceptedTransferSyntaxes = settings.transferSyntaxes.map(Set.init)
        policy.missingUIDs = ProtectorPolicy.UIDRule(rawValue: settings.missingUIDs) ?? .repair
        policy.reconciliation = reconciliation
        if configuration.pacsSOPClasses != nil || configuration.pacsTransferSyntaxes != nil || configuration.pacsStrictUIDs {
            policy.compatibility = Compatibility(sopClasses: configuration.pacsSOPClasses.map(Set.init),
                                                 transferSyntaxes: configuration.pacsTransferSyntaxes.map(Set.init))
            policy.compatibility?.strictUIDs = configuration.pacsStrictUIDs
        }
        return policy
    }

    /// The engines run in the scanner process (`ScannerClient`), started here and kept for the
    /// whole run; what the Protector holds are its proxies. A database libclamav cannot load is
    /// reported by the scanner before it answers ready.
    public static func engines(_ settings: Configuration.Engines, signatures override: [String]) throws -> [any MalwareEngine] {
        try scanner(settings, signatures: override).engines
    }

    public static func scanner(_ settings: Configuration.Engines, signatures override: [String]) throws -> ScannerClient {
        var clamav: ScannerJob.ClamAV?
        if settings.clamav || !override.isEmpty {
            let paths = override.isEmpty ? settings.signatures ?? shippedSignatures() : override
            guard !paths.isEmpty else {
                throw SetupError("no signature database: the shipped set was not found; set engines.signatures or pass --signatures")
            }
            clamav = ScannerJob.ClamAV(signatures: paths, maxFileSize: UInt64(settings.maxFileSize), maxScanSize: UInt64(settings.maxScanSize),
                                       maxRecursion: UInt32(settings.maxRecursion),
                                       maxScanTimeMilliseconds: UInt32(min(settings.timeoutSeconds * 1000, Int(UInt32.max))))
        }
        var icap: ScannerJob.ICAP?
        if let url = settings.icap, let address = ICAPAddress(url) {
            icap = ScannerJob.ICAP(host: address.host, port: address.port, service: address.service)
        }
        guard clamav != nil || settings.clamdSocket != nil || icap != nil else {
            throw SetupError("no anti-malware engine is configured: enable engines.clamav, engines.clamd_socket or engines.icap")
        }
        var job = ScannerJob(clamav: clamav, clamdSocket: settings.clamdSocket, icap: icap, timeoutSeconds: TimeInterval(settings.timeoutSeconds))
        job.threads = ProcessInfo.processInfo.activeProcessorCount
        do {
            return try ScannerClient(job: job)
        } catch {
            throw SetupError("the scanner could not load its engines: \(error)")
        }
    }

    /// The project's own signature set: installed under /usr/share/kiosk-agent, or — when running
    /// from a build tree — the `signatures/` folder of the checkout the executable was built in.
    public static func shippedSignatures() -> [String] {
        let installed = "/usr/share/kiosk-agent/signatures"
        if FileManager.default.fileExists(atPath: installed) { return [installed] }
        var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        // PREFIX/bin/kiosk-agent → PREFIX/share/kiosk-agent/signatures (an install under another prefix or DESTDIR).
        let relative = directory.deletingLastPathComponent().appendingPathComponent("share/kiosk-agent/signatures")
        if FileManager.default.fileExists(atPath: relative.appendingPathComponent("kiosk-agent.ndb").path) { return [relative.path] }
        // A build tree: the repository's signatures/ above .build/….
        for _ in 0..<6 {
            let candidate = directory.appendingPathComponent("signatures")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("kiosk-agent.ndb").path) { return [candidate.path] }
            directory.deleteLastPathComponent()
        }
        return []
    }
}
