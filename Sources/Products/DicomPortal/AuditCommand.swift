import ArgumentParser
import PortalStore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The portal's hash-chained audit table.",
        subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit chain: exit 0 when intact, 1 naming the first altered record or a cut end.",
            discussion: """
                Records removed from the end of the chain are found against the heads core copies to \
                STATE/audit-anchors (at start and every sweep).
                """)

        @OptionGroup var options: PortalOptions

        func run() async throws {
            let configuration = try options.loadConfiguration()
            let opened = try await options.openDatabase(configuration, start: true, logger: commandLogger("dicom-portal.audit"))
            try await migrateIfPrivate(opened)
            let anchors: [AuditAnchors.Anchor]
            do {
                anchors = try AuditAnchors(path: options.stateDirectory.auditAnchors.path).read()
            } catch {
                fail("\(error)", status: .problem)
            }
            let verdict = try await opened.use { try await AuditLog($0).verify(anchors: anchors) }
            print(verdict)
            if case .intact = verdict { return }
            throw ExitCode(PortalExit.problem.rawValue)
        }
    }
}
