import ArgumentParser
import Foundation
import Logging
import PortalConfiguration
import PortalEdge
import PortalMetrics
import ServiceLifecycle

/// `dicom-portal edge`: the patients' site, in the DMZ. `serve` is what `dicom-portal edge` alone runs.
struct EdgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge",
        abstract: "The patients' site (DMZ): invitations, sign-in with a second factor, uploads from the browser.",
        subcommands: [EdgeServeCommand.self, EdgeProvisionCommand.self],
        defaultSubcommand: EdgeServeCommand.self)
}

struct EdgeServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the patients' site on [edge] listen and core's link on [edge] link_listen.",
        discussion: """
            The edge keeps its own store under STATE/edge (accounts, second factors, sessions, encrypted uploads); it \
            holds no PACS address and no hospital database credentials. Core connects to it over the link (mutual TLS) \
            to push invitations and results and to collect submitted uploads. Stops on SIGTERM or SIGINT.
            """)

    @OptionGroup var options: PortalOptions

    func run() async throws {
        let configuration = try options.loadConfiguration()
        let logger = serviceLogger("dicom-portal.edge")
        let edge = configuration.edge
        guard let listen = HostPort(edge.listen) else { fail("edge.listen: not HOST:PORT", status: .usage) }
        guard let link = HostPort(edge.linkListen) else { fail("edge.link_listen: not HOST:PORT", status: .usage) }
        let state = options.stateDirectory.edge
        let linkFiles = state.appendingPathComponent("link")
        var settings = EdgeServer.Settings(
            linkCertificate: edge.linkCertificate ?? linkFiles.appendingPathComponent("link.crt").path,
            linkKey: edge.linkKey ?? linkFiles.appendingPathComponent("link.key").path,
            linkCAFile: edge.linkCAFile ?? linkFiles.appendingPathComponent("link-ca.crt").path)
        settings.host = listen.host
        settings.port = listen.port
        settings.linkHost = link.host
        settings.linkPort = link.port
        settings.publicURL = edge.origin
        settings.certificate = edge.certificate
        settings.key = edge.key
        settings.serverNames = edge.serverNames
        settings.hospitalName = edge.hospitalName
        settings.quota = UploadQuota(maxBytes: edge.maxBytes, maxFiles: edge.maxFiles, maxOpenUploads: edge.maxOpenUploads)
        settings.chunkSize = edge.chunkSize
        settings.uploadExpiry = TimeInterval(edge.uploadExpirySeconds)
        settings.idleTimeout = TimeInterval(edge.idleTimeoutSeconds)
        settings.absoluteTimeout = TimeInterval(edge.absoluteTimeoutSeconds)
        settings.webRoot = edge.webRoot.map { URL(fileURLWithPath: $0) }
        do {
            let server = try EdgeServer(settings: settings, stateDirectory: state, logger: logger)
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: server)]
            if let listen = edge.metricsListen.flatMap(HostPort.init) {
                services.append(.init(service: MetricsListener(host: listen.host, port: listen.port, logger: logger, render: { await server.metricsText() })))
            }
            let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                          logger: logger))
            try await group.run()
        } catch let error as EdgeSetupError {
            fail(error.description, status: .usage)
        } catch {
            fail("\(error)", status: .problem)
        }
    }
}
