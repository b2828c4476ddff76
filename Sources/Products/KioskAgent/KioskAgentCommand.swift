import AgentConfiguration
import ArgumentParser
import Foundation
import IngestPipeline
import Scanner

@main
struct KioskAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiosk-agent",
        abstract: "Removable-media ingestion station: reads patients' discs and USB sticks without trusting them, "
            + "keeps the DICOM studies, rebuilds every file clean and imports it.",
        version: KioskAgentVersion.string,
        subcommands: [IngestCommand.self, InspectCommand.self, EchoCommand.self, SpoolCommand.self, OperatorCommand.self, ConfigCommand.self, RunCommand.self, AuditCommand.self,
                      StatsCommand.self, DashboardCommand.self, ReceiptCommand.self]
    )

    /// ArgumentParser exits 64 (EX_USAGE) on usage errors; our contract says 2 (ARCHITECTURE.md §3.1).
    static func main() async {
        // The sandboxed media helper (issue 7): before anything else, while the process has one thread.
        if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == MediaHelper.argument { MediaHelper.main() }
        // The sandboxed scanner (the engines), likewise.
        if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == ScannerMain.argument { ScannerMain.main() }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // The pipeline's setup errors are the command line's usage errors.
            let error = (error as? SetupError).map { ValidationError($0.description) } ?? error
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                exit(withError: ExitCode(ExitStatus.usage.rawValue))
            }
            exit(withError: error)
        }
    }
}

extension ExitStatus {
    var exitCode: ExitCode { ExitCode(rawValue) }
}
