import DICOMCore
import Foundation

/// The agent's configuration file: a TOML subset (tables, `key = value` with strings, integers,
/// booleans and arrays of strings — arrays may span lines — and `#` comments). Unknown tables or
/// keys are errors that name the key and the line, so a typo in a hospital's config never silently
/// falls back to a default.
public struct Configuration: Equatable, Sendable {
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
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw Error(line: 0, message: "cannot read the file (\(error.localizedDescription))")
        }
        guard data.count <= 1 << 20 else { throw Error(line: 0, message: "file larger than 1 MiB") }
        guard let text = String(data: data, encoding: .utf8) else { throw Error(line: 0, message: "not UTF-8 text") }
        try self.init(parsing: text)
    }

    public init(parsing text: String) throws {
        var table = ""
        var seen = Set<String>()
        // An array value that continues on the next lines: (key, text so far, first line).
        var open: (key: String, text: String, line: Int)?
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let content = Configuration.stripComment(rawLine).trimmingCharacters(in: .whitespaces)
            if let pending = open {
                open = (pending.key, pending.text + " " + content, pending.line)
                if content.hasSuffix("]") {
                    try apply(pending.key, open!.text, line: pending.line)
                    open = nil
                }
                continue
            }
            if content.isEmpty { continue }
            if content.hasPrefix("[") {
                guard content.hasSuffix("]"), content.count > 2 else { throw Error(line: line, message: "malformed table header") }
                table = String(content.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                guard Configuration.keys[table] != nil else { throw Error(line: line, message: "unknown table [\(table)]") }
                continue
            }
            guard let equals = content.firstIndex(of: "=") else { throw Error(line: line, message: "expected key = value") }
            let key = content[..<equals].trimmingCharacters(in: .whitespaces)
            let value = content[content.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            let qualified = table.isEmpty ? key : "\(table).\(key)"
            guard Configuration.keys[table]?.contains(key) == true else {
                throw Error(line: line, message: "unknown key \(qualified)")
            }
            guard seen.insert(qualified).inserted else { throw Error(line: line, message: "\(qualified) set twice") }
            if value.hasPrefix("[") && !value.hasSuffix("]") {
                open = (qualified, value, line)
                continue
            }
            try apply(qualified, value, line: line)
        }
        if let open { throw Error(line: open.line, message: "\(open.key): the array is not closed with ]") }
    }

    private static let keys: [String: Set<String>] = [
        "": ["destination"],
        "limits": ["max_directory_depth", "max_entries", "max_total_bytes", "max_file_size",
                   "max_nesting_depth", "max_elements", "in_memory_file_limit"],
        "ingest": ["workers"],
        "engines": ["clamav", "signatures", "clamd_socket", "icap", "timeout_seconds", "max_file_size", "max_scan_size", "max_recursion"],
        "protector": ["keep_private_creators", "icons", "overlays", "documents", "active_documents", "allow_tiff_preamble",
                      "transfer_syntaxes", "missing_uids"],
        "pacs": ["sop_classes", "transfer_syntaxes", "strict_uids"],
        "reconciliation": ["enabled", "issuer_of_patient_id"],
        "delivery": ["calling_ae", "associations", "connect_timeout_seconds", "artim_timeout_seconds", "dimse_timeout_seconds",
                     "max_pdu_length", "wait_seconds", "retry_base_seconds", "retry_max_seconds", "reserve_bytes"],
        "tls": ["ca_file", "certificate_file", "private_key_file", "verify_hostname"],
        "kiosk": ["include_loop_devices", "require_expected_patient", "drain_interval_seconds", "eject", "idle_timeout_seconds"],
        "dicomweb": ["bearer_token_file", "username", "password_file", "batch_bytes", "connections", "timeout_seconds"],
        "atna": ["repository", "ca_file", "certificate_file", "private_key_file", "verify_hostname", "audit_source_id",
                 "enterprise_site_id", "timeout_seconds"],
        "receipt": ["printer", "station", "width"],
        "dashboard": ["enabled", "port"],
        "sandbox": ["stall_seconds", "cpu_seconds", "memory_bytes", "open_files"],
    ]

    private mutating func apply(_ key: String, _ value: String, line: Int) throws {
        func integer(_ range: ClosedRange<Int64>) throws -> Int64 {
            guard let number = Int64(value.replacingOccurrences(of: "_", with: "")), range.contains(number) else {
                throw Error(line: line, message: "\(key) must be an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        func string() throws -> String { try Configuration.string(value, key: key, line: line) }
        func strings() throws -> [String] { try Configuration.strings(value, key: key, line: line) }
        func boolean() throws -> Bool {
            switch value {
            case "true": return true
            case "false": return false
            default: throw Error(line: line, message: "\(key) must be true or false")
            }
        }
        func rule() throws -> String {
            let rule = try string()
            guard ["keep", "drop", "reject"].contains(rule) else { throw Error(line: line, message: "\(key) must be \"keep\", \"drop\" or \"reject\"") }
            return rule
        }
        func uids() throws -> [String] {
            let list = try strings()
            if let bad = list.first(where: { !UID.isValid($0) }) { throw Error(line: line, message: "\(key): \"\(bad)\" is not a UID") }
            return list
        }
        switch key {
        case "destination": destination = try string()
        case "sandbox.stall_seconds": sandbox.stallSeconds = Int(try integer(1...86_400))
        case "sandbox.cpu_seconds": sandbox.cpuSeconds = Int(try integer(1...86_400))
        case "sandbox.memory_bytes": sandbox.memoryBytes = try integer((256 << 20)...(1 << 40))
        case "sandbox.open_files": sandbox.openFiles = Int(try integer(16...4096))
        case "limits.max_directory_depth": maxDirectoryDepth = Int(try integer(1...256))
        case "limits.max_entries": maxEntries = Int(try integer(1...10_000_000))
        case "limits.max_total_bytes": maxTotalBytes = try integer(1...(1 << 44))
        case "limits.max_file_size": maxFileSize = try integer(1...(1 << 40))
        case "limits.max_nesting_depth": maxNestingDepth = Int(try integer(1...1024))
        case "limits.max_elements": maxElements = Int(try integer(1...100_000_000))
        case "limits.in_memory_file_limit": inMemoryFileLimit = try integer((1 << 20)...(1 << 30))
        case "ingest.workers": workers = Int(try integer(0...64))
        case "engines.clamav": engines.clamav = try boolean()
        case "engines.signatures": engines.signatures = try strings()
        case "engines.clamd_socket": engines.clamdSocket = try string()
        case "engines.icap":
            let url = try string()
            guard ICAPAddress(url) != nil else { throw Error(line: line, message: "\(key) must look like icap://HOST[:PORT]/SERVICE") }
            engines.icap = url
        case "engines.timeout_seconds": engines.timeoutSeconds = Int(try integer(1...3600))
        case "engines.max_file_size": engines.maxFileSize = try integer(1...(4 << 30))
        case "engines.max_scan_size": engines.maxScanSize = try integer(1...(4 << 30))
        case "engines.max_recursion": engines.maxRecursion = Int(try integer(1...64))
        case "protector.keep_private_creators": protector.keepPrivateCreators = try strings()
        case "protector.icons": protector.icons = try rule()
        case "protector.overlays": protector.overlays = try rule()
        case "protector.documents": protector.documents = try rule()
        case "protector.active_documents":
            let rule = try string()
            guard ["reject", "drop"].contains(rule) else { throw Error(line: line, message: "\(key) must be \"reject\" or \"drop\"") }
            protector.activeDocuments = rule
        case "protector.allow_tiff_preamble": protector.allowTIFFPreamble = try boolean()
        case "protector.transfer_syntaxes": protector.transferSyntaxes = try uids()
        case "protector.missing_uids":
            let rule = try string()
            guard ["repair", "reject"].contains(rule) else { throw Error(line: line, message: "\(key) must be \"repair\" or \"reject\"") }
            protector.missingUIDs = rule
        case "pacs.strict_uids": pacsStrictUIDs = try boolean()
        case "pacs.sop_classes": pacsSOPClasses = try uids()
        case "pacs.transfer_syntaxes": pacsTransferSyntaxes = try uids()
        case "reconciliation.enabled": reconciliation.enabled = try boolean()
        case "reconciliation.issuer_of_patient_id": reconciliation.issuerOfPatientID = try string()
        case "delivery.calling_ae":
            let title = try string()
            guard AETitle.isValid(title) else { throw Error(line: line, message: "\(key) must be 1-16 characters, no backslash or control characters") }
            delivery.callingAE = title
        case "delivery.associations": delivery.associations = Int(try integer(1...32))
        case "delivery.connect_timeout_seconds": delivery.connectTimeoutSeconds = Int(try integer(1...600))
        case "delivery.artim_timeout_seconds": delivery.artimTimeoutSeconds = Int(try integer(1...600))
        case "delivery.dimse_timeout_seconds": delivery.dimseTimeoutSeconds = Int(try integer(1...3600))
        case "delivery.max_pdu_length": delivery.maxPDULength = Int(try integer(4096...(16 << 20)))
        case "delivery.wait_seconds": delivery.waitSeconds = Int(try integer(0...86_400))
        case "delivery.retry_base_seconds": delivery.retryBaseSeconds = Double(try integer(1...3600))
        case "delivery.retry_max_seconds": delivery.retryMaxSeconds = Double(try integer(1...86_400))
        case "delivery.reserve_bytes": delivery.reserveBytes = try integer(0...(1 << 44))
        case "tls.ca_file": tls.caFile = try string()
        case "tls.certificate_file": tls.certificateFile = try string()
        case "tls.private_key_file": tls.privateKeyFile = try string()
        case "tls.verify_hostname": tls.verifyHostname = try boolean()
        case "kiosk.include_loop_devices": kiosk.includeLoopDevices = try boolean()
        case "kiosk.require_expected_patient": kiosk.requireExpectedPatient = try boolean()
        case "kiosk.drain_interval_seconds": kiosk.drainIntervalSeconds = Int(try integer(1...86_400))
        case "kiosk.eject": kiosk.eject = try boolean()
        case "kiosk.idle_timeout_seconds": kiosk.idleTimeoutSeconds = Int(try integer(10...86_400))
        case "dicomweb.bearer_token_file": dicomweb.bearerTokenFile = try string()
        case "dicomweb.username": dicomweb.username = try string()
        case "dicomweb.password_file": dicomweb.passwordFile = try string()
        case "dicomweb.batch_bytes": dicomweb.batchBytes = try integer((64 << 10)...(1 << 32))
        case "dicomweb.connections": dicomweb.connections = Int(try integer(1...16))
        case "dicomweb.timeout_seconds": dicomweb.timeoutSeconds = Int(try integer(1...3600))
        case "atna.repository": atna.repository = try string()
        case "atna.ca_file": atna.caFile = try string()
        case "atna.certificate_file": atna.certificateFile = try string()
        case "atna.private_key_file": atna.privateKeyFile = try string()
        case "atna.verify_hostname": atna.verifyHostname = try boolean()
        case "atna.audit_source_id": atna.auditSourceID = try string()
        case "atna.enterprise_site_id": atna.enterpriseSiteID = try string()
        case "atna.timeout_seconds": atna.timeoutSeconds = Int(try integer(1...600))
        case "receipt.printer": receipt.printer = try string()
        case "receipt.station": receipt.station = try string()
        case "receipt.width": receipt.width = Int(try integer(24...120))
        case "dashboard.enabled": dashboard.enabled = try boolean()
        case "dashboard.port": dashboard.port = Int(try integer(1...65535))
        default: throw Error(line: line, message: "unknown key \(key)")
        }
    }

    private static func string(_ value: String, key: String, line: Int) throws -> String {
        guard value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") else {
            throw Error(line: line, message: "\(key) must be a quoted string")
        }
        let inner = value.dropFirst().dropLast()
        guard !inner.contains("\"") && !inner.contains("\\") else {
            throw Error(line: line, message: "\(key): escapes and quotes inside strings are not supported")
        }
        return String(inner)
    }

    /// `["a", "b"]`, a trailing comma allowed.
    private static func strings(_ value: String, key: String, line: Int) throws -> [String] {
        guard value.hasPrefix("["), value.hasSuffix("]") else { throw Error(line: line, message: "\(key) must be an array of quoted strings") }
        var items = value.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if items.last?.isEmpty == true { items.removeLast() }
        return try items.map { item in
            guard !item.isEmpty else { throw Error(line: line, message: "\(key) has an empty entry") }
            return try string(item, key: key, line: line)
        }
    }

    /// Drops a `#` comment that is not inside a quoted string.
    private static func stripComment(_ line: Substring) -> Substring {
        var quoted = false
        for index in line.indices {
            if line[index] == "\"" { quoted.toggle() }
            if line[index] == "#" && !quoted { return line[..<index] }
        }
        return line
    }
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
