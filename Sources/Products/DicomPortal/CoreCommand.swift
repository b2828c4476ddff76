import ArgumentParser
import Foundation
import IngestPipeline
import Logging
import PortalConfiguration
import PortalConsole
import PortalCore
import PortalMetrics
import PortalPKI
import PortalStore
import ServiceLifecycle

struct CoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core",
        abstract: "The portal's back end: the API kiosks upload to over mutual TLS, the upload staging, the queue's owner.",
        discussion: """
            Without [database] url, core creates (first time) and runs a private PostgreSQL cluster under the state \
            directory, reachable only through its Unix socket, and stops it when core stops. Migrates the schema at \
            start. Stops on SIGTERM or SIGINT.
            """)

    @OptionGroup var options: PortalOptions
    @Option(help: "The hospital, as the portal CA names it when it is created.") var organization = "Hospital"

    func run() async throws {
        let configuration = try options.loadConfiguration()
        let logger = serviceLogger("dicom-portal.core")
        guard let listen = HostPort(configuration.core.listen) else { fail("core.listen: not HOST:PORT", status: .usage) }
        let opened = try await options.openDatabase(configuration, start: true, logger: logger)
        do {
            try await Migrator.migrate(opened.database)
            let authority = try PortalAuthority.openOrCreate(directory: options.stateDirectory.pki.path, organization: organization)
            var settings = PortalCore.Configuration(host: listen.host, port: listen.port, serverNames: configuration.core.serverNames,
                                                    stagingDirectory: options.stagingDirectory(configuration),
                                                    maxUploadSize: configuration.staging.maxUploadBytes,
                                                    uploadExpiry: TimeInterval(configuration.staging.expirySeconds))
            settings.protectAttempts = configuration.worker.maxAttempts
            settings.auditAnchors = options.stateDirectory.auditAnchors.path
            settings.purgeInterval = .seconds(configuration.review.purgeIntervalSeconds)
            settings.workerState = options.stateDirectory.worker.path
            let core = try PortalCore(configuration: settings, database: opened.database, authority: authority, logger: logger)
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: core)]
            if let url = configuration.edge.url {
                // The link's own CA (never the kiosks'): core's client certificate is made or renewed here.
                let link = try EdgeLinkAuthority.openOrCreate(directory: options.stateDirectory.edgeLink.path, organization: organization)
                var linkSettings = EdgeLink.Configuration(url: url, pollInterval: .seconds(configuration.edge.pollInterval),
                                                          stagingDirectory: settings.stagingDirectory, maxUploadSize: settings.maxUploadSize)
                linkSettings.protectAttempts = configuration.worker.maxAttempts
                services.append(.init(service: try EdgeLink(configuration: linkSettings, database: opened.database,
                                                            tls: try link.clientTLSConfiguration(), logger: serviceLogger("dicom-portal.edge-link"))))
            }
            if let metrics = configuration.core.metricsListen.flatMap(HostPort.init) {
                let core = CoreMetrics(database: opened.database, leaseSeconds: Double(configuration.worker.leaseSeconds), logger: logger)
                services.append(.init(service: MetricsListener(host: metrics.host, port: metrics.port, logger: logger, render: { await core.render() })))
            }
            // IHE ATNA: the central audit table to the hospital's repository, as the kiosks send their trails.
            if let sender = try ATNASetup.sender(configuration.pipeline) {
                let atna = configuration.pipeline.atna
                services.append(.init(service: PortalATNAForwarder(
                    database: opened.database, sender: sender, aeTitle: configuration.pipeline.delivery.callingAE, host: ATNASetup.hostName(),
                    destination: configuration.pipeline.destination ?? "archive:", auditSourceID: atna.auditSourceID,
                    enterpriseSiteID: atna.enterpriseSiteID, logger: serviceLogger("dicom-portal.atna"))))
            }
            if configuration.console.enabled {
                services.append(.init(service: try console(configuration, database: opened.database)))
            }
            let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                          logger: logger))
            try await group.run()
        } catch {
            await stop(opened)
            fail("\(error)", status: .problem)
        }
        await stop(opened)
    }

    /// The admin console on `[console] listen`, with its areas.
    private func console(_ configuration: PortalConfiguration, database: PortalDatabase) throws -> ConsoleServer {
        let console = configuration.console
        guard let listen = HostPort(console.listen) else { fail("console.listen: not HOST:PORT", status: .usage) }
        var settings = ConsoleServer.Settings()
        settings.host = listen.host
        settings.port = listen.port
        settings.publicURL = console.origin
        settings.certificate = console.certificate
        settings.key = console.key
        settings.serverNames = console.serverNames
        settings.organization = organization
        settings.idleTimeout = TimeInterval(console.idleTimeoutSeconds)
        settings.absoluteTimeout = TimeInterval(console.absoluteTimeoutSeconds)
        settings.webRoot = console.webRoot.map { URL(fileURLWithPath: $0) }
        settings.sharedWebRoot = configuration.edge.webRoot.map { URL(fileURLWithPath: $0) }
        let logger = serviceLogger("dicom-portal.console")
        // Without a usable [mail] relay the console still runs; inviting by e-mail then says why it cannot.
        var mailer: InvitationMailer?
        if configuration.mail.host != nil {
            do { mailer = try InvitationMailer(configuration.mail) } catch {
                logger.warning("invitations cannot be e-mailed from the console", metadata: ["reason": "\(error)"])
            }
        }
        let inviter = PatientInviter(database: database, publicURL: configuration.edge.origin, hospital: configuration.edge.hospitalName,
                                     lifetime: TimeInterval(configuration.invitations.lifetimeHours * 3600), mailer: mailer)
        let areas: [any ConsoleArea] = [
            StaffAPI(database: database, logger: logger, origin: console.origin),
            ReviewAPI(database: database, logger: logger, retentionDays: configuration.review.retentionDays,
                      issuer: configuration.pipeline.reconciliation.issuerOfPatientID ?? "", protectAttempts: configuration.worker.maxAttempts),
            AuditAPI(database: database, logger: logger, anchorsPath: options.stateDirectory.auditAnchors.path),
            AnalyticsAPI(database: database, logger: logger),
            FleetAPI(database: database, logger: logger, leaseSeconds: Double(configuration.worker.leaseSeconds)),
            PatientsAPI(database: database, logger: logger, inviter: inviter,
                        defaultIssuer: configuration.pipeline.reconciliation.issuerOfPatientID ?? ""),
        ]
        do {
            return try ConsoleServer(settings: settings, database: database, stateDirectory: options.stateDirectory.console, areas: areas, logger: logger)
        } catch let error as ConsoleSetupError {
            fail(error.description, status: .usage)
        }
    }

    /// Core owns the private cluster: it stops with core, whoever started it.
    private func stop(_ opened: OpenedDatabase) async {
        await opened.close()
        if let cluster = opened.embedded { try? await cluster.stop() }
    }
}
