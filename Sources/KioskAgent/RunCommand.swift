import ArgumentParser
import Foundation

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "The kiosk service: watch optical drives and USB storage through udev and import every medium inserted.",
        discussion: """
            Runs until SIGTERM. Under systemd (Type=notify) it reports READY and pings the watchdog. \
            Each medium goes through the same pipeline as ingest; reports are kept in the state directory. \
            The spool is retried in the background every [kiosk] drain_interval_seconds.
            """
    )

    @Flag(name: .customLong("no-screen"), help: "Headless (imaging labs): no operator screen; identity is unverified and recorded, unless [kiosk] require_expected_patient refuses such imports.")
    var noScreen = false

    @Option(help: "Where to deliver (as for ingest; default: the configuration's destination, else the archive).")
    var destination: String?

    @Flag(name: .customLong("include-loop-devices"), help: "Treat loop devices holding an image as media (also [kiosk] include_loop_devices).")
    var includeLoopDevices = false

    @OptionGroup var common: CommonOptions

    func run() async throws {
        guard noScreen else {
            throw ValidationError("the operator screen is not part of this build yet: run with --no-screen")
        }
        let configuration = try common.loadConfiguration()
        let destination = try Destination(parsing: self.destination ?? configuration.destination ?? "archive:",
                                          stateDirectory: common.stateDirectory)
        if destination.spoolKey != nil { _ = try DeliverySetup.target(for: destination, configuration, callingAE: nil) }
        let service = KioskService(settings: .init(
            destination: destination, configuration: configuration, stateDirectory: common.stateDirectory,
            protector: try ProtectorSetup.make(configuration, signatures: []),
            includeLoopDevices: includeLoopDevices || configuration.kiosk.includeLoopDevices))
        do { try await service.run() } catch {
            throw ValidationError("cannot watch for media: \(error)")
        }
    }
}
