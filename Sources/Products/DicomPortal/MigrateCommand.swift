import ArgumentParser
import PortalStore

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Bring the database schema up to this version (safe to run from several machines at once).")

    @OptionGroup var options: PortalOptions

    func run() async throws {
        let configuration = try options.loadConfiguration()
        let opened = try await options.openDatabase(configuration, start: true, logger: commandLogger("dicom-portal.migrate"))
        let applied = try await opened.use { database in
            do { return try await Migrator.migrate(database) } catch let error as MigrationError {
                fail("\(error)", status: .problem)
            }
        }
        let newest = Schema.migrations.map(\.version).max() ?? 0
        print(applied.isEmpty ? "schema up to date (version \(newest))"
                              : "applied \(applied.map { "version \($0)" }.joined(separator: ", ")); schema at version \(newest)")
    }
}

/// Applies migrations before a command that needs the schema; a private cluster is always brought up to date.
func migrateIfPrivate(_ opened: OpenedDatabase) async throws {
    guard opened.embedded != nil else { return }
    do { try await Migrator.migrate(opened.database) } catch let error as MigrationError {
        await opened.close()
        fail("\(error)", status: .problem)
    }
}
