import ArgumentParser
import PortalStore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The portal's hash-chained audit table.",
        subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit chain: exit 0 when intact, 1 naming the first altered record.")

        @OptionGroup var options: PortalOptions

        func run() async throws {
            let configuration = try options.loadConfiguration()
            let opened = try await options.openDatabase(configuration, start: true, logger: commandLogger("dicom-portal.audit"))
            try await migrateIfPrivate(opened)
            let verdict = try await opened.use { try await AuditLog($0).verify() }
            print(verdict)
            if case .altered = verdict { throw ExitCode(PortalExit.problem.rawValue) }
        }
    }
}
