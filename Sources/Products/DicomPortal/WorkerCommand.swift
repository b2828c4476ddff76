import AgentConfiguration
import ArgumentParser
import Foundation
import IngestPipeline
import Logging
import PortalConfiguration
import PortalCore
import PortalMetrics
import PortalStore
import Protector
import PortalWorker
import ServiceLifecycle
import Uploads

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Protect committed batches: the media helper, the scanner and the Protector, the identity check against the registered patient, delivery to the PACS.",
        discussion: """
            Run any number, on any machine that reaches the database and the staging store. Stops on SIGTERM or \
            SIGINT after the batches in progress (a batch that takes longer is taken over by another worker when \
            its lease runs out).
            """)

    @OptionGroup var options: PortalOptions

    func run() async throws {
        let configuration = try options.loadConfiguration()
        let logger = serviceLogger("dicom-portal.worker")
        let workerState = StateDirectory(options.stateDirectory.worker)
        let destination: Destination
        do { destination = try Destination(parsing: configuration.pipeline.destination ?? "archive:", stateDirectory: workerState) } catch {
            fail("delivery.destination: \(error)", status: .usage)
        }
        let engines: [any MalwareEngine]
        do { engines = try ProtectorSetup.engines(configuration.pipeline.engines, signatures: []) } catch {
            fail("\(error)", status: .usage)
        }
        let store: FileStagingStore
        do { store = try FileStagingStore(directory: options.stagingDirectory(configuration)) } catch {
            fail("the staging store: \(error)", status: .usage)
        }
        let opened = try await options.openDatabase(configuration, start: false, logger: logger)
        let name = "worker:\(ProcessInfo.processInfo.hostName):\(getpid())"
        let metrics = WorkerMetrics()
        let worker = PortalWorker(configuration: configuration, database: opened.database, store: store,
                                  registry: PostgresUploadRegistry(opened.database), stateDirectory: workerState, engines: engines,
                                  destination: destination, name: name, modifyingSystem: "dicom-portal \(KioskAgentVersion.string)",
                                  logger: logger, metrics: metrics)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: worker)]
        if let listen = configuration.worker.metricsListen.flatMap(HostPort.init) {
            services.append(.init(service: MetricsListener(host: listen.host, port: listen.port, logger: logger, render: { metrics.render() })))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
        await opened.close()
    }
}
