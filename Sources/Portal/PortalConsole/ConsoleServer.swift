import Credentials
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import PortalPKI
import PortalStore
import ServiceLifecycle
import WebAuthn
import WebSecurity

/// The admin console, run by core on its own HTTPS listener: the pages, staff sign-in and enrolment, and the areas'
/// APIs behind the session and CSRF rules of the patients' site, plus a sweep of ended sessions. A `Service`.
public struct ConsoleServer: Service {
    public struct Settings: Sendable {
        public var host = "127.0.0.1"
        /// 0 lets the kernel choose; `onRunning` is told the port.
        public var port = 8490
        /// Where staff's browsers reach the console (`https://console.example.org`): the Origin the API accepts, the
        /// passkeys' relying party (its host is the RP ID), the enrolment links. Nil: `https://localhost:<port>`.
        public var publicURL: String?
        /// PEM files; when not given, a certificate is made and kept under the state directory's `tls`.
        public var certificate: String?
        public var key: String?
        public var serverNames = ["localhost", "127.0.0.1"]
        /// The hospital as the made certificate and the authenticator app's entry name it.
        public var organization = "Hospital"
        public var idleTimeout: TimeInterval = 900
        public var absoluteTimeout: TimeInterval = 12 * 3600
        /// scrypt N for password hashes (r = 8, p = 1).
        public var scryptCost = 1 << 15
        public var sweepInterval: Duration = .seconds(300)
        /// The console's pages; nil: beside the executable, else /usr/share/dicom-portal/console.
        public var webRoot: URL?
        /// The edge's pages, which hold the browser modules both sites use; nil: beside the executable, else
        /// /usr/share/dicom-portal/web.
        public var sharedWebRoot: URL?

        public init() {}

        /// `publicURL` without a trailing slash, else `https://localhost:<port>`.
        public var origin: String {
            publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "https://localhost:\(port)"
        }
    }

    /// The browser modules the console serves from the edge's `Web/` (one copy in the repository).
    public static let borrowedModules = ["/assets/webauthn.js", "/assets/qr.js"]

    let app: Application<RouterResponder<ConsoleRequestContext>>
    let sessions: ConsoleSessions
    let settings: Settings
    let logger: Logger
    let now: @Sendable () -> Date

    /// - Parameters:
    ///   - stateDirectory: the console's own (`console.key`, the made certificate under `tls`).
    ///   - areas: the console's areas (staff, patients, review, ...), each adding its `/api/<area>` routes.
    public init(settings: Settings, database: PortalDatabase, stateDirectory: URL, areas: [any ConsoleArea],
                logger: Logger = Logger(label: "dicom-portal.console"), now: @escaping @Sendable () -> Date = Date.init,
                onRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }) throws {
        self.settings = settings
        self.logger = logger
        self.now = now
        let origin = settings.origin
        guard let rpID = URLComponents(string: origin)?.host else { throw ConsoleSetupError("[console] public_url \(origin) has no host name") }
        // On loopback the same console answers as 127.0.0.1 too (sessions and passkeys stay with the name used).
        var origins: Set<String> = [origin]
        if rpID == "localhost" { origins.insert(origin.replacingOccurrences(of: "://localhost", with: "://127.0.0.1")) }
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let tls = try Self.tls(settings, stateDirectory: stateDirectory, logger: logger)
        let key = try SealingKey.loadOrCreate(at: stateDirectory.appendingPathComponent("console.key"), name: .console)
        let directory = StaffDirectory(database)
        let store = StaffSessionStore(database)
        let sessions = ConsoleSessions(store: store, directory: directory,
                                       timeouts: SessionTimeouts(idle: settings.idleTimeout, absolute: settings.absoluteTimeout))
        self.sessions = sessions
        let accounts = ConsoleAccountsAPI(
            directory: directory, sessions: sessions, throttle: ConsoleThrottle(store: store), hashing: HashingGate(limit: 4), key: key,
            relyingParty: RelyingParty(id: rpID, name: settings.organization + " console", origins: origins), scryptCost: settings.scryptCost,
            issuer: settings.organization + " console", logger: logger, now: now)
        let files = try StaticFiles<ConsoleRequestContext>(
            root: settings.webRoot,
            defaultRoots: StaticFiles<ConsoleRequestContext>.defaultRoots(bundleSuffix: "_PortalConsole.resources", installed: "/usr/share/dicom-portal/console"),
            site: "the console's web pages", setting: "[console] web_root",
            borrowed: .init(roots: settings.sharedWebRoot.map { [$0] }
                                ?? StaticFiles<ConsoleRequestContext>.defaultRoots(bundleSuffix: "_PortalEdge.resources", installed: "/usr/share/dicom-portal/web"),
                            paths: Self.borrowedModules))

        let router = Router(context: ConsoleRequestContext.self)
        router.add(middleware: BrowserMiddleware(console: sessions, origins: origins, now: now))
        accounts.addRoutes(to: router)
        for area in areas { area.addRoutes(to: router) }
        files.addRoutes(to: router)
        router.get("/healthz") { _, _ in "ok\n" }
        app = Application(
            router: router, server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("console listening for staff", metadata: ["host": "\(settings.host)", "port": "\(port)", "origin": "\(origin)"])
                await onRunning(port)
            },
            logger: logger)
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await sweep() }
            try await app.run()
        }
    }

    /// The configured certificate, else one from a private CA under the state directory (`BrowserTLS`).
    static func tls(_ settings: Settings, stateDirectory: URL, logger: Logger) throws -> TLSConfiguration {
        switch (settings.certificate, settings.key) {
        case let (certificate?, key?):
            return try BrowserTLS.serverConfiguration(certificate: certificate, key: key)
        case (nil, nil):
            let made = try BrowserTLS.selfSigned(directory: stateDirectory.appendingPathComponent("tls"),
                                                 organization: settings.organization + " console (self-signed)", names: settings.serverNames)
            logger.warning("no [console] certificate configured: serving a self-signed one browsers will warn about",
                           metadata: ["certificate": "\(made.certificate)"])
            return try BrowserTLS.serverConfiguration(certificate: made.certificate, key: made.key)
        default:
            throw ConsoleSetupError("[console] certificate and key go together")
        }
    }

    /// At start and every `sweepInterval`: ended sessions and day-old throttles go.
    private func sweep() async {
        let store = sessions.store, settings = settings, logger = logger, now = now, unauthenticated = sessions.timeouts.absoluteUnauthenticated
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await store.expire(idle: settings.idleTimeout, absolute: settings.absoluteTimeout, unauthenticated: unauthenticated, now: now())
                    try await store.expireThrottles(olderThan: 86_400, now: now())
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("the console's sweep failed; it runs again later", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: settings.sweepInterval)
            }
        }
    }
}

public struct ConsoleSetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
