import ArgumentParser
import Foundation
import Logging
import PortalConfiguration
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
            let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                          logger: logger))
            try await group.run()
        } catch {
            await stop(opened)
            fail("\(error)", status: .problem)
        }
        await stop(opened)
    }

    /// Core owns the private cluster: it stops with core, whoever started it.
    private func stop(_ opened: OpenedDatabase) async {
        await opened.close()
        if let cluster = opened.embedded { try? await cluster.stop() }
    }
}
