import Credentials
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import PortalPKI
import ServiceLifecycle
import Uploads
import WebAuthn
import WebSecurity

/// `dicom-portal edge`: the patients' site (HTTPS: pages, the JSON API, tus uploads) and the link core pulls from
/// (mutual TLS with the edge-link CA), over one `EdgeStore` and one encrypted staging directory, plus a sweep that
/// removes what patients abandoned. A `Service`: runs until graceful shutdown.
public struct EdgeServer: Service {
    public struct Settings: Sendable {
        public var host = "127.0.0.1"
        /// 0 lets the kernel choose (tests); `onRunning` is told the ports.
        public var port = 8443
        /// Where patients' browsers reach the site (`https://portal.example.org`): the Origin the API accepts, and the
        /// WebAuthn relying party (its host is the RP ID). Nil: `https://localhost:<port>`.
        public var publicURL: String?
        public var linkHost = "127.0.0.1"
        public var linkPort = 8444
        /// PEM files; the public certificate is made and kept under the state directory when not given.
        public var certificate: String?
        public var key: String?
        public var linkCertificate: String
        public var linkKey: String
        public var linkCAFile: String
        /// Names the made certificate carries.
        public var serverNames = ["localhost", "127.0.0.1"]
        public var hospitalName = "the hospital"
        public var quota = UploadQuota()
        public var chunkSize = 8 << 20
        /// An unfinished upload lives this long after its last PATCH; an open batch with nothing moving is removed
        /// after the same time.
        public var uploadExpiry: TimeInterval = 7 * 86_400
        public var idleTimeout: TimeInterval = 900
        public var absoluteTimeout: TimeInterval = 12 * 3600
        /// scrypt N for password hashes (r = 8, p = 1).
        public var scryptCost = 1 << 15
        public var sweepInterval: Duration = .seconds(300)
        /// Where the web pages are read from (tests); nil: the bundle's `Web/`.
        public var webRoot: URL?

        public init(linkCertificate: String, linkKey: String, linkCAFile: String) {
            self.linkCertificate = linkCertificate; self.linkKey = linkKey; self.linkCAFile = linkCAFile
        }
    }

    let settings: Settings
    let store: EdgeStore
    let publicApp: Application<RouterResponder<EdgeRequestContext>>
    let linkApp: Application<RouterResponder<BasicRequestContext>>
    let tus: TusServer<EdgeRequestContext>
    let sessions: SessionGate
    let staging: any StagingStore
    let logger: Logger
    let now: @Sendable () -> Date

    /// - Parameters:
    ///   - stateDirectory: the edge's own (its database, sealing key, staging, made certificate).
    ///   - onRunning: told each listener's port once bound (`public` then `link`, in either order).
    public init(settings: Settings, stateDirectory: URL, logger: Logger = Logger(label: "dicom-portal.edge"),
                now: @escaping @Sendable () -> Date = Date.init,
                onRunning: @escaping @Sendable (_ listener: String, _ port: Int) async -> Void = { _, _ in }) throws {
        self.settings = settings
        self.logger = logger
        self.now = now
        let store = try EdgeStore(directory: stateDirectory.appendingPathComponent("store"))
        self.store = store
        let staging = try FileStagingStore(directory: stateDirectory.appendingPathComponent("staging").path)
        self.staging = staging

        let publicTLS = try Self.publicTLS(settings, stateDirectory: stateDirectory, logger: logger)
        let origin = settings.publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "https://localhost:\(settings.port)"
        guard let components = URLComponents(string: origin), let rpID = components.host else {
            throw EdgeSetupError("[edge] public_url \(origin) has no host name")
        }
        // On loopback the same site answers as 127.0.0.1 too (sessions and passkeys stay with the name used).
        var origins: Set<String> = [origin]
        if rpID == "localhost" { origins.insert(origin.replacingOccurrences(of: "://localhost", with: "://127.0.0.1")) }
        let relyingParty = RelyingParty(id: rpID, name: settings.hospitalName, origins: origins)

        let sessions = SessionGate(store: store, timeouts: SessionTimeouts(idle: settings.idleTimeout, absolute: settings.absoluteTimeout))
        self.sessions = sessions
        let accounts = AccountsAPI(store: store, sessions: sessions, throttle: Throttle(store: store), hashing: HashingGate(limit: 4),
                                   relyingParty: relyingParty, settings: settings, logger: logger, now: now)
        let batches = BatchesAPI(store: store, staging: staging, settings: settings, logger: logger, now: now)
        let tus = batches.tusServer()
        self.tus = tus
        let files = try StaticFiles<EdgeRequestContext>(
            root: settings.webRoot, defaultRoots: Self.defaultWebRoots, site: "the edge's web pages", setting: "[edge] web_root")

        let router = Router(context: EdgeRequestContext.self)
        router.add(middleware: BrowserMiddleware(edge: sessions, origins: origins, now: now))
        accounts.addRoutes(to: router)
        batches.addRoutes(to: router)
        tus.addRoutes(to: router)
        files.addRoutes(to: router)
        router.get("/healthz") { _, _ in "ok\n" }
        publicApp = Application(
            router: router, server: try .tls(.http1(), tlsConfiguration: publicTLS),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("edge listening for patients", metadata: ["host": "\(settings.host)", "port": "\(port)", "origin": "\(origin)"])
                await onRunning("public", port)
            },
            logger: logger)

        let linkRouter = Router(context: BasicRequestContext.self)
        LinkAPI(store: store, staging: staging, logger: logger, now: now).addRoutes(to: linkRouter)
        linkApp = Application(
            router: linkRouter, server: try .tls(.http1(), tlsConfiguration: try Self.linkTLS(settings)),
            configuration: .init(address: .hostname(settings.linkHost, port: settings.linkPort), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("edge listening for core", metadata: ["host": "\(settings.linkHost)", "port": "\(port)"])
                await onRunning("link", port)
            },
            logger: logger)
    }

    /// The edge's Prometheus metrics (`[edge] metrics_listen`).
    public func metricsText() async -> String {
        store.metrics.render(sessions: (try? await store.sessionsByState()) ?? [:])
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await linkApp.run() }
            group.addTask { await sweep() }
            try await publicApp.run()
        }
    }

    /// The configured certificate, else one from a private CA under the state directory (`BrowserTLS`).
    static func publicTLS(_ settings: Settings, stateDirectory: URL, logger: Logger) throws -> TLSConfiguration {
        switch (settings.certificate, settings.key) {
        case let (certificate?, key?):
            return try BrowserTLS.serverConfiguration(certificate: certificate, key: key)
        case (nil, nil):
            let made = try BrowserTLS.selfSigned(directory: stateDirectory.appendingPathComponent("tls"),
                                                 organization: settings.hospitalName + " patient portal (self-signed)", names: settings.serverNames)
            logger.warning("no [edge] certificate configured: serving a self-signed one browsers will warn about",
                           metadata: ["certificate": "\(made.certificate)"])
            return try BrowserTLS.serverConfiguration(certificate: made.certificate, key: made.key)
        default:
            throw EdgeSetupError("[edge] certificate and key go together")
        }
    }

    /// The pages beside the executable (SwiftPM's bundle), else where scripts/install-portal puts them.
    static var defaultWebRoots: [URL] {
        StaticFiles<EdgeRequestContext>.defaultRoots(bundleSuffix: "_PortalEdge.resources", installed: "/usr/share/dicom-portal/web")
    }

    /// The link: the edge's certificate from the edge-link CA, and core's client certificate required against that CA
    /// only (never the kiosks' CA, nor the system's roots).
    static func linkTLS(_ settings: Settings) throws -> TLSConfiguration {
        for path in [settings.linkCertificate, settings.linkKey, settings.linkCAFile] where !FileManager.default.fileExists(atPath: path) {
            throw EdgeSetupError("\(path) is missing: run `dicom-portal edge provision --host NAME --out DIR` on core's machine and copy DIR to the edge's link files")
        }
        var tls = try EdgeLinkTLS.serverConfiguration(certificate: settings.linkCertificate, key: settings.linkKey, caFile: settings.linkCAFile)
        tls.cipherSuites = BrowserTLS.bcp195CipherSuites
        return tls
    }

    /// At start and every `sweepInterval`: unfinished uploads past their expiry and open batches nobody touched for as
    /// long go, with their staged bytes; timed-out sessions and old throttles go.
    private func sweep() async {
        let tus = tus, store = store, staging = staging, settings = settings, logger = logger, now = now
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await tus.expire()
                    for (batch, patient) in try await store.abandonedBatches(before: now().addingTimeInterval(-settings.uploadExpiry)) {
                        if let uploads = try await store.abandon(batch: batch, patient: patient) {
                            for upload in uploads { try? await staging.remove(upload) }
                            try await store.record("batch.expired", patient: patient, address: nil, detail: ["batch": batch.uuidString.lowercased()], now: now())
                        }
                    }
                    _ = try await store.expireSessions(idle: settings.idleTimeout, absolute: settings.absoluteTimeout, now: now())
                    try await store.expireThrottles(olderThan: 86_400, now: now())
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("the edge's sweep failed; it runs again later", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: settings.sweepInterval)
            }
        }
    }
}

public struct EdgeSetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
