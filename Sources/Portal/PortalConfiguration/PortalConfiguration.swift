import AgentConfiguration
import Foundation

/// `dicom-portal`'s configuration file: the same format as the kiosk's (`ConfigurationFile`), holding the
/// pipeline's tables as the kiosk names them (limits, sandbox, engines, protector, pacs, reconciliation,
/// delivery, tls, dicomweb, atna) plus the portal's own: `[core]`, `[database]`, `[staging]`, `[worker]`,
/// `[review]`, `[edge]`, `[console]`. Where the kiosk names its destination at the root, the portal names the PACS as
/// `[delivery] destination`.
public struct PortalConfiguration: ConfigurationRoot, Equatable {
    /// What every worker runs: the Protector, engines, limits and senders, configured as on a kiosk.
    public var pipeline = Configuration()
    public var core = CoreSettings()
    public var database = DatabaseFileSettings()
    public var staging = StagingSettings()
    public var worker = WorkerSettings()
    public var review = ReviewSettings()
    public var edge = EdgeSettings()
    public var invitations = InvitationSettings()
    public var mail = MailSettings()
    public var console = ConsoleSettings()

    public init() {
        // The portal coerces outside IDs to the hospital's by default (IHE IRWF): the registered patient is
        // known, unlike at a kiosk with no one named at the desk.
        pipeline.reconciliation.enabled = true
        pipeline.delivery.callingAE = "DICOMPORTAL"
    }

    /// `[core]`: the HTTP API kiosks (mutual TLS) and the edge reach.
    public struct CoreSettings: Equatable, Sendable {
        public init() {}
        public var listen = "127.0.0.1:8480"
        /// Names the core's server certificate carries (DNS names or IP addresses kiosks connect to).
        public var serverNames = ["localhost", "127.0.0.1"]
        /// Where Prometheus scrapes core's metrics (plain HTTP, `GET /metrics`); unset: no metrics listener.
        public var metricsListen: String?
    }

    /// `[database]`: the system of record. Unset `url`: a private cluster under the state directory.
    public struct DatabaseFileSettings: Equatable, Sendable {
        public init() {}
        /// `postgres://USER@HOST:PORT/DB?sslmode=verify-full&sslrootcert=/path`; no password in it.
        public var url: String?
        /// The password, alone in a file readable only by the service.
        public var passwordFile: String?
        /// Connections each process keeps.
        public var connections = 8
    }

    /// `[staging]`: where uploads wait, encrypted, for a worker. Shared storage when workers run elsewhere.
    public struct StagingSettings: Equatable, Sendable {
        public init() {}
        /// Default: `staging` under the state directory.
        public var directory: String?
        /// tus `Tus-Max-Size`: the largest single upload.
        public var maxUploadBytes: Int64 = 16 << 30
        /// An unfinished upload is given up after this long without a PATCH.
        public var expirySeconds = 86_400
    }

    /// `[worker]`: how a worker takes jobs.
    public struct WorkerSettings: Equatable, Sendable {
        public init() {}
        /// A job's lease; a live worker renews it every third of this, so a dead one's job is taken over after it.
        public var leaseSeconds = 60
        /// Batches one worker process runs at once (each already uses every core the Protector is given).
        public var concurrency = 1
        /// Attempts before a batch's job goes to the dead-letter state for an administrator.
        public var maxAttempts = 5
        /// Where Prometheus scrapes this worker's metrics (plain HTTP, `GET /metrics`); unset: no metrics listener.
        public var metricsListen: String?
    }

    /// `[review]`: what becomes of held batches staff reject.
    public struct ReviewSettings: Equatable, Sendable {
        public init() {}
        /// A rejected batch's staged uploads (and the quarantine of its runs) are kept this long, then purged.
        public var retentionDays = 30
        /// How often core looks for rejected batches whose retention has ended.
        public var purgeIntervalSeconds = 3600
    }

    /// `[edge]`: the patients' site in the DMZ.
    public struct EdgeSettings: Equatable, Sendable {
        public init() {}
        public var listen = "127.0.0.1:8443"
        /// PEM certificate and key; when unset the edge makes a self-signed pair and says so.
        public var certificate: String?
        public var key: String?
        /// Names the self-signed certificate carries.
        public var serverNames = ["localhost", "127.0.0.1"]
        /// Where patients' browsers reach the site (`https://portal.example.org`): the only Origin the API accepts,
        /// the passkeys' relying party, the invitation links. Unset: `https://` + `listen`.
        public var publicURL: String?
        /// The hospital as the pages and e-mails name it.
        public var hospitalName = "the hospital"
        /// Where core's link connections arrive (mutual TLS with the edge-link CA).
        public var linkListen = "127.0.0.1:8444"
        /// The link's certificate, key and CA (from `dicom-portal edge provision`); default under `link/` in the edge's state.
        public var linkCertificate: String?
        public var linkKey: String?
        public var linkCAFile: String?
        /// Per patient, across their unsent and sent-but-not-collected uploads.
        public var maxBytes: Int64 = 8 << 30
        public var maxFiles = 20_000
        public var maxOpenUploads = 64
        /// The browser's tus chunk.
        public var chunkSize = 8 << 20
        /// An unfinished upload (and an open batch with nothing moving) is removed after this long.
        public var uploadExpirySeconds = 7 * 86_400
        public var idleTimeoutSeconds = 900
        public var absoluteTimeoutSeconds = 12 * 3600
        /// The pages and scripts; default: beside the executable, else /usr/share/dicom-portal/web.
        public var webRoot: String?
        /// Where Prometheus scrapes the edge's metrics (plain HTTP, `GET /metrics`); unset: no metrics listener.
        public var metricsListen: String?

        /// `public_url`, else `https://` + `listen` with a loopback address named `localhost` (passkeys need a host
        /// name: WebAuthn refuses an IP address as relying party).
        public var origin: String { PortalConfiguration.origin(publicURL: publicURL, listen: listen) }
        /// Core's side of the link: where the edge's link listener is (`https://HOST:PORT`, the host as `dicom-portal
        /// edge provision --host` named it); nil: no edge, core runs no link.
        public var url: String?
        /// Seconds between polls of the edge.
        public var pollInterval = 2
    }

    /// `public_url`, else `https://` + `listen` with a loopback address named `localhost` (passkeys need a host name:
    /// WebAuthn refuses an IP address as relying party).
    static func origin(publicURL: String?, listen: String) -> String {
        if let publicURL { return publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL }
        guard let address = HostPort(listen) else { return "https://" + listen }
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(address.host)
        return "https://" + (loopback ? "localhost:\(address.port)" : address.description)
    }

    /// `[console]`: the staff's admin console, served by core on a listener of its own.
    public struct ConsoleSettings: Equatable, Sendable {
        public init() {}
        /// false: core serves no console.
        public var enabled = true
        public var listen = "127.0.0.1:8490"
        /// Where staff's browsers reach the console (`https://console.example.org`): the only Origin its API accepts,
        /// the passkeys' relying party, the enrolment links. Unset: `https://` + `listen`, loopback named `localhost`.
        public var publicURL: String?
        /// PEM certificate and key; when unset core makes a self-signed pair under STATE/console/tls and says so.
        public var certificate: String?
        public var key: String?
        /// Names the self-signed certificate carries.
        public var serverNames = ["localhost", "127.0.0.1"]
        public var idleTimeoutSeconds = 900
        public var absoluteTimeoutSeconds = 12 * 3600
        /// The console's pages; default: beside the executable, else /usr/share/dicom-portal/console.
        public var webRoot: String?

        public var origin: String { PortalConfiguration.origin(publicURL: publicURL, listen: listen) }
    }

    /// `[invitations]`: the e-mails inviting patients to the portal.
    public struct InvitationSettings: Equatable, Sendable {
        public init() {}
        /// Hours an invitation can be used.
        public var lifetimeHours = 72
    }

    /// `[mail]`: the hospital's SMTP relay, which invitations go through.
    public struct MailSettings: Equatable, Sendable {
        public init() {}
        /// nil: no relay (invitations can only be handed over in person, `--print-link`).
        public var host: String?
        public var port = 587
        /// `starttls` (upgrade on the submission port), `tls` (implicit, 465) or `none` (a relay on a trusted network).
        public var security = "starttls"
        public var username: String?
        /// The password, alone in a file, read when a message is sent and never logged.
        public var passwordFile: String?
        /// The sender's address and display name.
        public var from: String?
        public var fromName = "Patient portal"
        /// PEM CA certificates the relay's certificate is checked against (default: the system's).
        public var caFile: String?
    }

    public init(contentsOf url: URL) throws {
        try self.init(parsing: try ConfigurationFile.read(url))
    }

    public init(parsing text: String) throws {
        self.init()
        try ConfigurationFile.parse(text, settings: PortalConfiguration.index, into: &self)
    }

    /// Kiosk-only tables the portal does not read.
    static let kioskOnlyTables: Set<String> = ["kiosk", "receipt", "dashboard", "portal"]

    /// Every key of the file, once: the pipeline's (the kiosk's keys outside its station tables, with the root
    /// `destination` moved to `[delivery]`), then the portal's own.
    public static let settings: [ConfigSetting<PortalConfiguration>] =
        Configuration.settings
            .filter { !$0.table.isEmpty && !kioskOnlyTables.contains($0.table) }
            .map { $0.lifted(into: \PortalConfiguration.pipeline) }
        + [
            Setting("delivery", "destination", optional: \.pipeline.destination, .destination, unset: "archive:"),

            Setting("core", "listen", \.core.listen, .hostPort),
            Setting("core", "server_names", \.core.serverNames, .serverNames),
            Setting("core", "metrics_listen", optional: \.core.metricsListen, .hostPort),

            Setting("database", "url", optional: \.database.url, .postgresURL),
            Setting("database", "password_file", optional: \.database.passwordFile, .path),
            Setting("database", "connections", \.database.connections, .integer(1...256)),

            Setting("staging", "directory", optional: \.staging.directory, .path),
            Setting("staging", "max_upload_bytes", \.staging.maxUploadBytes, .integer((1 << 20)...(1 << 44))),
            Setting("staging", "expiry_seconds", \.staging.expirySeconds, .integer(60...(30 * 86_400))),

            Setting("worker", "lease_seconds", \.worker.leaseSeconds, .integer(5...3600)),
            Setting("worker", "concurrency", \.worker.concurrency, .integer(1...64)),
            Setting("worker", "max_attempts", \.worker.maxAttempts, .integer(1...100)),
            Setting("worker", "metrics_listen", optional: \.worker.metricsListen, .hostPort),

            Setting("review", "retention_days", \.review.retentionDays, .integer(1...3650)),
            Setting("review", "purge_interval_seconds", \.review.purgeIntervalSeconds, .integer(60...86_400)),

            Setting("edge", "listen", \.edge.listen, .hostPort),
            Setting("edge", "certificate", optional: \.edge.certificate, .path),
            Setting("edge", "key", optional: \.edge.key, .path),
            Setting("edge", "server_names", \.edge.serverNames, .serverNames),
            Setting("edge", "public_url", optional: \.edge.publicURL, .httpsOrigin),
            Setting("edge", "hospital_name", \.edge.hospitalName, .displayName),
            Setting("edge", "link_listen", \.edge.linkListen, .hostPort),
            Setting("edge", "link_certificate", optional: \.edge.linkCertificate, .path),
            Setting("edge", "link_key", optional: \.edge.linkKey, .path),
            Setting("edge", "link_ca_file", optional: \.edge.linkCAFile, .path),
            Setting("edge", "max_bytes", \.edge.maxBytes, .integer((1 << 20)...(1 << 44))),
            Setting("edge", "max_files", \.edge.maxFiles, .integer(1...1_000_000)),
            Setting("edge", "max_open_uploads", \.edge.maxOpenUploads, .integer(1...10_000)),
            Setting("edge", "chunk_size", \.edge.chunkSize, .integer((256 << 10)...(64 << 20))),
            Setting("edge", "upload_expiry_seconds", \.edge.uploadExpirySeconds, .integer(3600...(90 * 86_400))),
            Setting("edge", "idle_timeout_seconds", \.edge.idleTimeoutSeconds, .integer(60...86_400)),
            Setting("edge", "absolute_timeout_seconds", \.edge.absoluteTimeoutSeconds, .integer(300...(7 * 86_400))),
            Setting("edge", "web_root", optional: \.edge.webRoot, .path),
            Setting("edge", "metrics_listen", optional: \.edge.metricsListen, .hostPort),
            Setting("edge", "url", optional: \.edge.url, .httpsOrigin),
            Setting("edge", "poll_interval", \.edge.pollInterval, .integer(1...3600)),

            Setting("invitations", "lifetime", \.invitations.lifetimeHours, .integer(1...(30 * 24))),

            Setting("mail", "host", optional: \.mail.host, .hostName),
            Setting("mail", "port", \.mail.port, .integer(1...65535)),
            Setting("mail", "security", \.mail.security, .oneOf("starttls", "tls", "none")),
            Setting("mail", "username", optional: \.mail.username, .string),
            Setting("mail", "password_file", optional: \.mail.passwordFile, .path),
            Setting("mail", "from", optional: \.mail.from, .emailAddress),
            Setting("mail", "from_name", \.mail.fromName, .displayName),
            Setting("mail", "ca_file", optional: \.mail.caFile, .path),

            Setting("console", "enabled", \.console.enabled, .bool),
            Setting("console", "listen", \.console.listen, .hostPort),
            Setting("console", "public_url", optional: \.console.publicURL, .httpsOrigin),
            Setting("console", "certificate", optional: \.console.certificate, .path),
            Setting("console", "key", optional: \.console.key, .path),
            Setting("console", "server_names", \.console.serverNames, .serverNames),
            Setting("console", "idle_timeout_seconds", \.console.idleTimeoutSeconds, .integer(60...86_400)),
            Setting("console", "absolute_timeout_seconds", \.console.absoluteTimeoutSeconds, .integer(300...(7 * 86_400))),
            Setting("console", "web_root", optional: \.console.webRoot, .path),
        ]

    typealias Setting = ConfigSetting<PortalConfiguration>

    private static let index = ConfigurationFile.index(settings)
}

/// `HOST:PORT` or `[IPv6]:PORT`, split.
public struct HostPort: Equatable, Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init?(_ text: String) {
        var host: Substring
        let portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let tail = text[text.index(after: close)...]
            guard tail.hasPrefix(":") else { return nil }
            portText = tail.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !host.contains(":") else { return nil }
        }
        guard !host.isEmpty, !host.contains(where: { $0 == "/" || $0 == " " || $0 == "@" }),
              let port = Int(portText), (1...65535).contains(port) else { return nil }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
