import DICOMCore
import Foundation

/// The kiosk's configuration file (the format and its rules: `ConfigurationFile`). The fields are the
/// typed API; `settings` maps the file's keys onto them.
public struct Configuration: ConfigurationRoot, Equatable {
    /// Bounds on the media walk.
    public var maxDirectoryDepth = 32
    public var maxEntries = 200_000
    public var maxTotalBytes: Int64 = 64 << 30
    public var maxFileSize: Int64 = 8 << 30
    /// Bounds on each DICOM file.
    public var maxNestingDepth = 64
    public var maxElements = 1_000_000
    /// Files up to this size are read into memory whole; larger ones stream from the media.
    public var inMemoryFileLimit: Int64 = 64 << 20
    /// Parallel Protector workers; 0 = one per core.
    public var workers = 0
    /// Default destination when `--destination` is not given (`archive:` = under the state directory).
    public var destination: String?
    public var engines = Engines()
    public var protector = ProtectorSettings()
    /// What the destination accepts (nil: anything).
    public var pacsSOPClasses: [String]?
    public var pacsTransferSyntaxes: [String]?
    /// The destination refuses UIDs that break PS3.5 §9.1 only by a zero-led component (`1.2.03`):
    /// such UIDs are then repaired like missing ones instead of delivered unchanged.
    public var pacsStrictUIDs = false
    public var reconciliation = ReconciliationSettings()
    public var delivery = DeliverySettings()
    public var tls = TLSSettings()
    public var dicomweb = DICOMwebSettings()
    public var portal = PortalSettings()
    public var kiosk = KioskSettings()
    public var atna = ATNASettings()
    public var receipt = ReceiptSettings()
    public var dashboard = DashboardSettings()
    public var sandbox = SandboxSettings()

    /// `[sandbox]`: the media helper that reads and parses each medium (issue 7, part 2).
    public struct SandboxSettings: Equatable, Sendable {
        public init() {}
        /// The helper is stopped when it says nothing (and no scan of its is running) for this long.
        public var stallSeconds = 300
        /// Its CPU time (scans run in the agent and do not count).
        public var cpuSeconds = 3600
        public var memoryBytes: Int64 = 4 << 30
        public var openFiles = 64
    }

    /// `[atna]`: IHE ATNA audit messages to the hospital's audit repository (off when no repository).
    public struct ATNASettings: Equatable, Sendable {
        public init() {}
        /// `syslog+tls://HOST:6514` (RFC 5425) or `syslog+udp://HOST:514` (RFC 5426).
        public var repository: String?
        /// TLS material; each falls back to `[tls]` when not given.
        public var caFile: String?
        public var certificateFile: String?
        public var privateKeyFile: String?
        public var verifyHostname: Bool?
        /// AuditSourceID (default: the host name) and AuditEnterpriseSiteID.
        public var auditSourceID: String?
        public var enterpriseSiteID: String?
        public var timeoutSeconds = 10
    }

    /// `[receipt]`: the session receipt (always kept as HTML and text in the state directory).
    public struct ReceiptSettings: Equatable, Sendable {
        public init() {}
        /// A CUPS queue to print the text receipt on after each kiosk session (`lp -d`); nil = do not print.
        public var printer: String?
        /// The station's name on the receipt (default: the host name).
        public var station: String?
        public var width = 42
    }

    /// `[dashboard]`: the read-only analytics dashboard and `/metrics`, on loopback only.
    public struct DashboardSettings: Equatable, Sendable {
        public init() {}
        public var enabled = true
        public var port = 8470
    }

    /// `[kiosk]`: the service (`kiosk-agent run`).
    public struct KioskSettings: Equatable, Sendable {
        public init() {}
        /// Loop devices count as media (imaging labs that receive disc images; tests).
        public var includeLoopDevices = false
        /// Headless: refuse to import without an expected patient instead of importing unverified.
        public var requireExpectedPatient = false
        /// How often the spool is retried in the background.
        public var drainIntervalSeconds = 30
        /// Eject optical discs when a session ends.
        public var eject = true
        /// The operator screen signs out after this long without a touch (no step running).
        public var idleTimeoutSeconds = 300
    }

    /// `[delivery]`: the spool and the network destinations.
    public struct DeliverySettings: Equatable, Sendable {
        public init() {}
        public var callingAE = "KIOSK"
        /// Parallel associations to a C-STORE destination.
        public var associations = 4
        public var connectTimeoutSeconds = 10
        public var artimTimeoutSeconds = 30
        public var dimseTimeoutSeconds = 120
        public var maxPDULength = 1 << 20
        /// How long `ingest` keeps retrying its instances before leaving them to the spool (exit 6).
        public var waitSeconds = 30
        /// Backoff between attempts of one instance: doubles from base up to max, with jitter.
        public var retryBaseSeconds = 5.0
        public var retryMaxSeconds = 3600.0
        /// Free space kept on the state directory's file system beyond what a disc may need.
        public var reserveBytes: Int64 = 256 << 20
    }

    /// `[tls]`: DICOM TLS (`dicoms://`) and https DICOMweb. Verification is on unless turned off.
    public struct TLSSettings: Equatable, Sendable {
        public init() {}
        /// PEM file of the CA(s) that sign the PACS's certificate (default: the system's trust store).
        public var caFile: String?
        /// Client certificate and key (PEM), when the PACS authenticates the kiosk.
        public var certificateFile: String?
        public var privateKeyFile: String?
        public var verifyHostname = true
    }

    /// `[portal]`: the portal core (`portal+https://HOST:PORT`), reached over mutual TLS with the files
    /// `dicom-portal kiosk add NAME --out DIR` wrote. Separate from `[tls]`: the portal's CA is its own,
    /// never the hospital's, and the kiosk key also signs the session manifests.
    public struct PortalSettings: Equatable, Sendable {
        public init() {}
        /// `DIR/kiosk.crt`: the kiosk's client certificate (its CN is the kiosk's name at the portal).
        public var certificateFile: String?
        /// `DIR/kiosk.key`: the P-256 key (PEM) of that certificate.
        public var keyFile: String?
        /// `DIR/portal-ca.crt`: the portal CA, the only root the portal's server certificate is checked against.
        public var caFile: String?
    }

    /// `[dicomweb]`: STOW-RS destinations. Secrets are read from files, never written to logs or reports.
    public struct DICOMwebSettings: Equatable, Sendable {
        public init() {}
        public var bearerTokenFile: String?
        public var username: String?
        public var passwordFile: String?
        public var batchBytes: Int64 = 32 << 20
        public var connections = 2
        public var timeoutSeconds = 120
    }

    /// `[engines]`: which anti-malware engines scan every part, and their limits.
    public struct Engines: Equatable, Sendable {
        public init() {}
        /// libclamav in-process.
        public var clamav = true
        /// Databases for libclamav (files or directories); nil = the signature set shipped with the agent.
        public var signatures: [String]?
        /// clamd's unix socket, when clamd should scan too.
        public var clamdSocket: String?
        /// `icap://HOST[:PORT]/SERVICE`, when an ICAP gateway should scan too.
        public var icap: String?
        /// Per-scan deadline for clamd and ICAP, and libclamav's scan-time limit.
        public var timeoutSeconds = 60
        public var maxFileSize: Int64 = 512 << 20
        public var maxScanSize: Int64 = 1 << 30
        public var maxRecursion = 16
    }

    /// `[protector]`: the CDR policy.
    public struct ProtectorSettings: Equatable, Sendable {
        public init() {}
        public var keepPrivateCreators: [String] = []
        public var icons = "drop"
        public var overlays = "keep"
        public var documents = "keep"
        /// "reject" or "drop": a document class instance whose PDF or XML holds active content.
        public var activeDocuments = "reject"
        public var allowTIFFPreamble = true
        /// nil = every transfer syntax the standard defines.
        public var transferSyntaxes: [String]?
        /// Study, Series or SOP Instance UIDs that are missing or cannot be encoded: `repair`
        /// (derived `2.25.` UIDs, originals kept) or `reject`.
        public var missingUIDs = "repair"
    }

    /// `[reconciliation]`: IHE Import Reconciliation — coerce the patient's identifiers to the desk's.
    public struct ReconciliationSettings: Equatable, Sendable {
        public init() {}
        public var enabled = false
        public var issuerOfPatientID: String?
    }

    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    public init() {}

    public init(contentsOf url: URL) throws {
        try self.init(parsing: try ConfigurationFile.read(url))
    }

    public init(parsing text: String) throws {
        self.init()
        try ConfigurationFile.parse(text, settings: Configuration.index, into: &self)
    }

    /// Every key of the file, once: its table, the field it sets and what it accepts. A field's
    /// default is its initial value above; `config/kiosk-agent.toml` states each key with that
    /// default (ConfigurationTests holds the two together).
    public static let settings: [Setting] = [
        Setting("", "destination", optional: \.destination, .string, unset: "archive:"),

        Setting("limits", "max_directory_depth", \.maxDirectoryDepth, .integer(1...256)),
        Setting("limits", "max_entries", \.maxEntries, .integer(1...10_000_000)),
        Setting("limits", "max_total_bytes", \.maxTotalBytes, .integer(1...(1 << 44))),
        Setting("limits", "max_file_size", \.maxFileSize, .integer(1...(1 << 40))),
        Setting("limits", "max_nesting_depth", \.maxNestingDepth, .integer(1...1024)),
        Setting("limits", "max_elements", \.maxElements, .integer(1...100_000_000)),
        Setting("limits", "in_memory_file_limit", \.inMemoryFileLimit, .integer((1 << 20)...(1 << 30))),

        Setting("sandbox", "stall_seconds", \.sandbox.stallSeconds, .integer(1...86_400)),
        Setting("sandbox", "cpu_seconds", \.sandbox.cpuSeconds, .integer(1...86_400)),
        Setting("sandbox", "memory_bytes", \.sandbox.memoryBytes, .integer((256 << 20)...(1 << 40))),
        Setting("sandbox", "open_files", \.sandbox.openFiles, .integer(16...4096)),

        Setting("ingest", "workers", \.workers, .integer(0...64)),

        Setting("engines", "clamav", \.engines.clamav, .bool),
        Setting("engines", "signatures", optional: \.engines.signatures, .paths),
        Setting("engines", "clamd_socket", optional: \.engines.clamdSocket, .path),
        Setting("engines", "icap", optional: \.engines.icap, .icapURL),
        Setting("engines", "timeout_seconds", \.engines.timeoutSeconds, .integer(1...3600)),
        Setting("engines", "max_file_size", \.engines.maxFileSize, .integer(1...(4 << 30))),
        Setting("engines", "max_scan_size", \.engines.maxScanSize, .integer(1...(4 << 30))),
        Setting("engines", "max_recursion", \.engines.maxRecursion, .integer(1...64)),

        Setting("protector", "keep_private_creators", \.protector.keepPrivateCreators, .strings),
        Setting("protector", "icons", \.protector.icons, .oneOf("keep", "drop", "reject")),
        Setting("protector", "overlays", \.protector.overlays, .oneOf("keep", "drop", "reject")),
        Setting("protector", "documents", \.protector.documents, .oneOf("keep", "drop", "reject")),
        Setting("protector", "active_documents", \.protector.activeDocuments, .oneOf("reject", "drop")),
        Setting("protector", "allow_tiff_preamble", \.protector.allowTIFFPreamble, .bool),
        Setting("protector", "missing_uids", \.protector.missingUIDs, .oneOf("repair", "reject")),
        Setting("protector", "transfer_syntaxes", optional: \.protector.transferSyntaxes, .uids),

        Setting("pacs", "sop_classes", optional: \.pacsSOPClasses, .uids),
        Setting("pacs", "transfer_syntaxes", optional: \.pacsTransferSyntaxes, .uids),
        Setting("pacs", "strict_uids", \.pacsStrictUIDs, .bool),

        Setting("reconciliation", "enabled", \.reconciliation.enabled, .bool),
        Setting("reconciliation", "issuer_of_patient_id", optional: \.reconciliation.issuerOfPatientID, .string),

        Setting("delivery", "calling_ae", \.delivery.callingAE, .aeTitle),
        Setting("delivery", "associations", \.delivery.associations, .integer(1...32)),
        Setting("delivery", "connect_timeout_seconds", \.delivery.connectTimeoutSeconds, .integer(1...600)),
        Setting("delivery", "artim_timeout_seconds", \.delivery.artimTimeoutSeconds, .integer(1...600)),
        Setting("delivery", "dimse_timeout_seconds", \.delivery.dimseTimeoutSeconds, .integer(1...3600)),
        Setting("delivery", "max_pdu_length", \.delivery.maxPDULength, .integer(4096...(16 << 20))),
        Setting("delivery", "wait_seconds", \.delivery.waitSeconds, .integer(0...86_400)),
        Setting("delivery", "retry_base_seconds", \.delivery.retryBaseSeconds, .seconds(1...3600)),
        Setting("delivery", "retry_max_seconds", \.delivery.retryMaxSeconds, .seconds(1...86_400)),
        Setting("delivery", "reserve_bytes", \.delivery.reserveBytes, .integer(0...(1 << 44))),

        Setting("tls", "ca_file", optional: \.tls.caFile, .path),
        Setting("tls", "certificate_file", optional: \.tls.certificateFile, .path),
        Setting("tls", "private_key_file", optional: \.tls.privateKeyFile, .path),
        Setting("tls", "verify_hostname", \.tls.verifyHostname, .bool),

        Setting("dicomweb", "bearer_token_file", optional: \.dicomweb.bearerTokenFile, .path),
        Setting("dicomweb", "username", optional: \.dicomweb.username, .string),
        Setting("dicomweb", "password_file", optional: \.dicomweb.passwordFile, .path),
        Setting("dicomweb", "batch_bytes", \.dicomweb.batchBytes, .integer((64 << 10)...(1 << 32))),
        Setting("dicomweb", "connections", \.dicomweb.connections, .integer(1...16)),
        Setting("dicomweb", "timeout_seconds", \.dicomweb.timeoutSeconds, .integer(1...3600)),

        Setting("portal", "certificate", optional: \.portal.certificateFile, .path),
        Setting("portal", "key", optional: \.portal.keyFile, .path),
        Setting("portal", "ca_file", optional: \.portal.caFile, .path),

        Setting("kiosk", "include_loop_devices", \.kiosk.includeLoopDevices, .bool),
        Setting("kiosk", "require_expected_patient", \.kiosk.requireExpectedPatient, .bool),
        Setting("kiosk", "drain_interval_seconds", \.kiosk.drainIntervalSeconds, .integer(1...86_400)),
        Setting("kiosk", "eject", \.kiosk.eject, .bool),
        Setting("kiosk", "idle_timeout_seconds", \.kiosk.idleTimeoutSeconds, .integer(10...86_400)),

        // The repository's scheme is checked with its TLS material when the forwarder is set up.
        Setting("atna", "repository", optional: \.atna.repository, .string),
        Setting("atna", "ca_file", optional: \.atna.caFile, .path),
        Setting("atna", "certificate_file", optional: \.atna.certificateFile, .path),
        Setting("atna", "private_key_file", optional: \.atna.privateKeyFile, .path),
        Setting("atna", "verify_hostname", optional: \.atna.verifyHostname, .bool),
        Setting("atna", "audit_source_id", optional: \.atna.auditSourceID, .string),
        Setting("atna", "enterprise_site_id", optional: \.atna.enterpriseSiteID, .string),
        Setting("atna", "timeout_seconds", \.atna.timeoutSeconds, .integer(1...600)),

        Setting("receipt", "printer", optional: \.receipt.printer, .string),
        Setting("receipt", "station", optional: \.receipt.station, .string),
        Setting("receipt", "width", \.receipt.width, .integer(24...120)),

        Setting("dashboard", "enabled", \.dashboard.enabled, .bool),
        Setting("dashboard", "port", \.dashboard.port, .integer(1...65535)),
    ]

    /// `settings` by table, then key. A key listed twice keeps its first entry: ConfigurationTests
    /// refuses duplicates, and a trap here would take the agent down over a table typo.
    private static let index = ConfigurationFile.index(settings)
}

/// `icap://HOST[:PORT]/SERVICE` (RFC 3507 §7.3; port 1344 by default).
public struct ICAPAddress: Equatable, Sendable {
    public let host: String
    public let port: UInt16
    public let service: String

    public init?(_ url: String) {
        guard url.hasPrefix("icap://") else { return nil }
        let rest = url.dropFirst("icap://".count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let authority = rest[..<slash]
        let service = String(rest[rest.index(after: slash)...])
        guard !service.isEmpty, !authority.isEmpty else { return nil }
        if let colon = authority.lastIndex(of: ":") {
            guard let port = UInt16(authority[authority.index(after: colon)...]), port > 0 else { return nil }
            host = String(authority[..<colon]); self.port = port
        } else {
            host = String(authority); port = 1344
        }
        guard !host.isEmpty else { return nil }
        self.service = service
    }
}

/// Application Entity titles (PS3.5 §6.2, AE): 1–16 characters of the default repertoire, no
/// backslash or control characters, not all spaces.
public enum AETitle {
    public static func isValid(_ title: String) -> Bool {
        guard (1...16).contains(title.utf8.count), !title.allSatisfy({ $0 == " " }) else { return false }
        return title.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != 0x5C }
    }
}
