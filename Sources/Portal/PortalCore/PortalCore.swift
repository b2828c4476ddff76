import Crypto
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import PortalPKI
import PortalProtocol
import PortalStore
import ServiceLifecycle
import Uploads

/// The portal's `core` server for kiosks: mutual TLS (kiosk certificates from the portal CA, revocation looked up in
/// the kiosks table at every handshake), tus uploads at `/uploads/` staged encrypted with the batch's key, the signed
/// session manifest, the batch status, and `/healthz`.
///
/// A `Service`: `run()` serves until graceful shutdown (or cancellation). The database is the caller's: it is
/// migrated and shut down outside.
public struct PortalCore: Service {
    public struct Configuration: Sendable {
        public var host: String
        /// 0 lets the kernel choose (tests); `onServerRunning` is told the port.
        public var port: Int
        /// DNS names and IP addresses the server certificate is issued for.
        public var serverNames: [String]
        /// Where `FileStagingStore` keeps the encrypted uploads.
        public var stagingDirectory: String
        /// Tus-Max-Size.
        public var maxUploadSize: Int64
        /// How long an unfinished upload lives after its last PATCH.
        public var uploadExpiry: TimeInterval
        /// How often unfinished uploads past their expiry are removed.
        public var sweepInterval: Duration
        /// The largest manifest accepted.
        public var manifestLimit: Int
        /// Attempts a committed batch's job gets before it is dead-lettered.
        public var protectAttempts = 5
        /// Where the sweep copies the audit chain's head (nil: nowhere).
        public var auditAnchors: String?
        /// How often rejected batches past their retention are purged (`[review] purge_interval_seconds`).
        public var purgeInterval: Duration = .seconds(3600)
        /// A worker's state directory on this machine (`STATE/worker`): its quarantine of a purged batch's runs is
        /// removed too. Workers on other machines keep their own.
        public var workerState: String?

        public init(host: String = "127.0.0.1", port: Int = 8480, serverNames: [String] = ["localhost", "127.0.0.1"],
                    stagingDirectory: String, maxUploadSize: Int64 = 16 << 30, uploadExpiry: TimeInterval = 24 * 3600,
                    sweepInterval: Duration = .seconds(300), manifestLimit: Int = 64 << 20) {
            self.host = host
            self.port = port
            self.serverNames = serverNames
            self.stagingDirectory = stagingDirectory
            self.maxUploadSize = maxUploadSize
            self.uploadExpiry = uploadExpiry
            self.sweepInterval = sweepInterval
            self.manifestLimit = manifestLimit
        }
    }

    /// The open kiosk connections: revoking a kiosk also calls `channels.close(serial:)` to cut them.
    public let channels: KioskChannels
    let configuration: Configuration
    let application: Application<RouterResponder<KioskRequestContext>>
    let tus: TusServer<KioskRequestContext>
    let batches: BatchStore
    let store: any StagingStore
    let audit: AuditLog
    let database: PortalDatabase
    let logger: Logger
    let rejections: AsyncStream<KioskVerificationError>
    let rejectionsInput: AsyncStream<KioskVerificationError>.Continuation

    /// - Parameters:
    ///   - authority: the portal CA; it issues (and renews) the server certificate for `serverNames`.
    ///   - onServerRunning: told the port once the listener is bound.
    public init(configuration: Configuration, database: PortalDatabase, authority: PortalAuthority,
                logger: Logger = Logger(label: "dicom-portal.core"),
                onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }) throws {
        self.configuration = configuration
        self.logger = logger
        let channels = KioskChannels()
        self.channels = channels
        let audit = AuditLog(database)
        self.audit = audit
        self.database = database
        let (rejections, rejectionsInput) = AsyncStream.makeStream(of: KioskVerificationError.self, bufferingPolicy: .bufferingNewest(1000))
        self.rejections = rejections
        self.rejectionsInput = rejectionsInput

        let kiosks = KioskRegistry(database)
        let verifier = try KioskVerifier(
            authority: authority.certificate,
            isRevoked: { serial in
                do {
                    return try await withDeadline(.seconds(5)) { try await kiosks.isRevoked(serial: serial) }
                } catch {
                    // Fail closed: a kiosk is refused while its revocation cannot be looked up.
                    logger.error("kiosk revocation lookup failed; refusing the handshake", metadata: ["error": "\(error)"])
                    return true
                }
            },
            onRejection: { rejection in
                logger.warning("kiosk handshake refused", metadata: ["reason": "\(rejection)"])
                rejectionsInput.yield(rejection)
            })
        let sslContext = try NIOSSLContext(configuration: try authority.serverTLSConfiguration(names: configuration.serverNames))

        let store = try FileStagingStore(directory: configuration.stagingDirectory)
        self.store = store
        let batches = BatchStore(database, protectAttempts: configuration.protectAttempts)
        self.batches = batches
        let handlers = KioskHandlers(batches: batches, store: store, audit: audit, database: database,
                                     manifestLimit: configuration.manifestLimit, logger: logger)
        let tus = TusServer<KioskRequestContext>(
            configuration: .init(basePath: KioskAPI.uploadsPath, maxSize: configuration.maxUploadSize, expiry: configuration.uploadExpiry),
            store: store, registry: PostgresUploadRegistry(database, logger: logger),
            authorize: { _, context in context.kiosk?.owner },
            batchFor: { owner, metadata, _ in try await handlers.batch(for: owner, metadata: metadata) },
            keyFor: { batch in try await handlers.stagingKey(batch) },
            onComplete: { record, digest in await handlers.uploadCompleted(record, digest: digest) },
            unfinished: { owner, batch, length, metadata in
                try await handlers.unfinishedUpload(owner: owner, batch: batch, length: length, metadata: metadata)
            },
            logger: logger)
        self.tus = tus

        let router = Router(context: KioskRequestContext.self)
        router.add(middleware: KioskSeen(sightings: KioskSightings(registry: kiosks, logger: logger)))
        tus.addRoutes(to: router)
        handlers.addRoutes(to: router)

        let server = HTTPServerBuilder { responder in
            KioskTLSChannel(base: HTTP1Channel(responder: responder, configuration: .init(idleTimeout: .seconds(300))),
                            sslContext: sslContext, verifier: verifier, channels: channels)
        }
        application = Application(
            router: router, server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("core listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
                await onServerRunning(port)
            },
            logger: logger)
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await recordRejections() }
            group.addTask { await sweep() }
            group.addTask { await purgeRejected() }
            group.addTask { await cutRevokedKiosks() }
            defer { rejectionsInput.finish() }
            try await application.run()
        }
    }

    /// Each refused handshake becomes an audit record (the verifier's callback cannot wait for the database).
    private func recordRejections() async {
        for await rejection in rejections {
            do {
                try await audit.append(eventType: AuditEvent.kioskRefused, actor: "core", detail: ["reason": .string(rejection.description)])
            } catch {
                logger.error("could not audit a refused kiosk handshake", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A revocation (`dicom-portal kiosk revoke`, from any machine) is announced on a NOTIFY channel: the kiosk's
    /// open connections are cut at once; new handshakes are refused by the verifier anyway. LISTEN is re-established
    /// after the database restarts, and each time the open connections are checked against the kiosks table, since a
    /// revocation announced while nobody listened was missed.
    private func cutRevokedKiosks() async {
        let client = database.client, channels = channels, logger = logger, database = database
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: KioskRegistry.revocationChannel) { notifications in
                            try await Self.cutRevoked(channels: channels, registry: KioskRegistry(database), logger: logger)
                            for try await notification in notifications {
                                let cut = channels.close(serial: notification.payload)
                                logger.notice("kiosk certificate revoked", metadata: ["serial": "\(notification.payload)", "connections cut": "\(cut)"])
                            }
                        }
                    }
                } catch is CancellationError {
                    return
                } catch {
                    logger.debug("revocation listener lost its connection; retrying", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Closes the open connections of every kiosk the registry now refuses.
    static func cutRevoked(channels: KioskChannels, registry: KioskRegistry, logger: Logger) async throws {
        for serial in try await registry.revoked(among: Array(channels.serials())) {
            let cut = channels.close(serial: serial)
            logger.notice("kiosk certificate found revoked; its connections cut", metadata: ["serial": "\(serial)", "connections cut": "\(cut)"])
        }
    }

    /// At start and every `sweepInterval` until graceful shutdown: removes unfinished uploads past their expiry,
    /// commits batches whose commit was interrupted (their last upload and manifest are in, the batch still open),
    /// and copies the audit chain's head to `auditAnchors`.
    private func sweep() async {
        let interval = configuration.sweepInterval
        let tus = tus, batches = batches, audit = audit, anchors = configuration.auditAnchors
        let logger = logger
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await tus.expire()
                    let committed = try await batches.commitStranded(actor: "core")
                    if committed > 0 { logger.notice("sweep committed batches whose commit had been interrupted", metadata: ["batches": "\(committed)"]) }
                    if let path = anchors { try await audit.anchor(to: AuditAnchors(path: path)) }
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("the sweep failed; it runs again later", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// Part of the sweep, on its own interval (`[review] purge_interval_seconds`): every rejected batch whose
    /// retention has ended loses its staged uploads and this machine's worker quarantine of it, then is marked purged
    /// (`review.purged`). A batch whose bytes could not be removed stays due and is tried again.
    private func purgeRejected() async {
        let review = ReviewQueue(database), store = store, logger = logger, interval = configuration.purgeInterval
        let quarantine = configuration.workerState.map { $0 + "/quarantine" }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let purged = try await review.purgeDue(actor: "core") { rejected in
                        for raw in rejected.uploads {
                            guard let id = UploadID(raw) else { continue }
                            try await store.remove(id)
                        }
                        if let quarantine { try Self.removeQuarantine(of: rejected.batch, in: quarantine) }
                    }
                    if purged > 0 { logger.notice("rejected batches purged after their retention", metadata: ["batches": "\(purged)"]) }
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("purging rejected batches failed; it runs again later", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// A worker's runs of a batch are quarantined as sessions `<batch>-<n>`.
    static func removeQuarantine(of batch: UUID, in directory: String) throws {
        let prefix = batch.uuidString.lowercased() + "-"
        guard let sessions = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for session in sessions where session.hasPrefix(prefix) {
            let path = directory + "/" + session
            // Quarantined originals are read-only; their directories must be writable to be emptied.
            if let walker = FileManager.default.enumerator(atPath: path) {
                for case let entry as String in walker {
                    try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path + "/" + entry)
                }
            }
            try FileManager.default.removeItem(atPath: path)
        }
    }
}

struct DeadlineExceeded: Error {}

/// `body`'s result, or `DeadlineExceeded` after `limit` (the body is cancelled then).
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
