import ArgumentParser
import Foundation
import IngestPipeline
import Scanner

@main
struct DicomPortalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dicom-portal",
        abstract: "The hospital's DICOM portal: kiosks and patients upload, workers protect, the PACS receives.",
        discussion: """
            Exit codes: 0 success; 1 the command ran and found a problem (an altered audit record, a refused \
            registration); 2 usage or configuration error; 3 the database could not be reached or started.
            """,
        version: KioskAgentVersion.string,
        subcommands: [CoreCommand.self, WorkerCommand.self, EdgeCommand.self, CheckCommand.self, MigrateCommand.self, KioskCommand.self, PatientCommand.self, AuditCommand.self, StaffCommand.self])

    /// ArgumentParser exits 64 (EX_USAGE) on usage errors; the portal's commands say 2, like the kiosk's.
    static func main() async {
        // The worker's sandboxed media helper and scanner are this executable too: before anything else,
        // while the process has one thread.
        if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == MediaHelper.argument { MediaHelper.main() }
        if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == ScannerMain.argument { ScannerMain.main() }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let error = (error as? SetupError).map { ValidationError($0.description) } ?? error
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                exit(withError: ExitCode(PortalExit.usage.rawValue))
            }
            exit(withError: error)
        }
    }
}
