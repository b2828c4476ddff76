import AgentConfiguration
import ArgumentParser
import Foundation
import KioskStation
import IngestPipeline
import OperatorAccess

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

    @Flag(name: .customLong("no-screen"), help: "Headless (imaging labs): no operator screen; identity is unverified and recorded, unless [kiosk] require_expected_patient refuses such imports. Without it the operator screen runs on this terminal.")
    var noScreen = false

    @Option(help: "Where to deliver (as for ingest; default: the configuration's destination, else the archive).")
    var destination: String?

    @Flag(name: .customLong("include-loop-devices"), help: "Treat loop devices holding an image as media (also [kiosk] include_loop_devices).")
    var includeLoopDevices = false

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let configuration = try common.loadConfiguration()
        var operators: OperatorStore?
        if !noScreen {
            guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
                throw ValidationError("the operator screen needs a terminal (a tty or a terminal window); use --no-screen for headless use")
            }
            // Without any operator the screen tells IT to add one and notices when it is there.
            operators = try OperatorCommand.store(common, creating: true)
            // A hangup must not end the service: the screen notices the terminal is gone and the kiosk goes on.
            signal(SIGHUP, SIG_IGN)
            // Log lines would scribble over the screen: on a terminal they go to STATE/logs instead
            // (under systemd, stderr is the journal and stays).
            if isatty(STDERR_FILENO) == 1 {
                let logs = common.stateDirectory.logs
                try? FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
                let fd = open(logs.appendingPathComponent("kiosk-agent.log").path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
                if fd >= 0 { dup2(fd, STDERR_FILENO); close(fd) }
            }
        }
        // After the redirection above: with the screen, this line belongs in the log.
        common.announceStateDirectory()
        let destination = try Destination(parsing: self.destination ?? configuration.destination ?? "archive:",
                                          stateDirectory: common.stateDirectory)
        if destination.spoolKey != nil { _ = try DeliverySetup.target(for: destination, configuration, callingAE: nil) }
        let settings = KioskService.Settings(
            destination: destination, configuration: configuration, stateDirectory: common.stateDirectory,
            protector: try ProtectorSetup.make(configuration, signatures: []),
            includeLoopDevices: includeLoopDevices || configuration.kiosk.includeLoopDevices, operators: operators,
            configurationPath: common.configurationPath)
        do { try await KioskStation.run(settings) } catch {
            throw ValidationError("cannot watch for media: \(error)")
        }
    }
}
