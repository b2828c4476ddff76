import AgentConfiguration
import ArgumentParser
import Foundation
import Logging
import PortalConfiguration
import PortalStore

/// Flags every subcommand takes.
struct PortalOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp(
        "State directory (database cluster, certificate authority, staging, worker state).",
        discussion: "Default: $DICOM_PORTAL_STATE_DIR, else /var/lib/dicom-portal as root, else ~/.local/state/dicom-portal."),
        completion: .directory)
    var stateDir: String?

    @Option(help: ArgumentHelp("Configuration file (TOML).",
                               discussion: "Default: $DICOM_PORTAL_CONFIG, else /etc/dicom-portal/dicom-portal.toml when it exists."),
            completion: .file())
    var config: String?

    static let systemConfiguration = "/etc/dicom-portal/dicom-portal.toml"

    var stateDirectory: PortalStateDirectory {
        if let stateDir { return PortalStateDirectory(URL(fileURLWithPath: stateDir)) }
        let environment = ProcessInfo.processInfo.environment
        if let fromEnvironment = environment["DICOM_PORTAL_STATE_DIR"], !fromEnvironment.isEmpty {
            return PortalStateDirectory(URL(fileURLWithPath: fromEnvironment))
        }
        if geteuid() == 0 { return PortalStateDirectory(URL(fileURLWithPath: "/var/lib/dicom-portal")) }
        let home = environment["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        return PortalStateDirectory(home.appendingPathComponent(".local/state/dicom-portal"))
    }

    var configurationPath: String? {
        if let config { return config }
        if let fromEnvironment = ProcessInfo.processInfo.environment["DICOM_PORTAL_CONFIG"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return FileManager.default.fileExists(atPath: Self.systemConfiguration) ? Self.systemConfiguration : nil
    }

    /// The configuration, or exit 2 with the file, line and key of the problem.
    func loadConfiguration() throws -> PortalConfiguration {
        guard let path = configurationPath else { return PortalConfiguration() }
        do {
            return try PortalConfiguration(contentsOf: URL(fileURLWithPath: path))
        } catch {
            fail("\(path): \(error)", status: .usage)
        }
    }

    /// Where staged uploads live.
    func stagingDirectory(_ configuration: PortalConfiguration) -> String {
        configuration.staging.directory ?? stateDirectory.staging.path
    }

    /// For a command on the records (patients, kiosks, staff, audit): the database, the private cluster started if
    /// needed and brought up to date.
    func openMigrated(_ configuration: PortalConfiguration, logger label: String) async throws -> OpenedDatabase {
        let opened = try await openDatabase(configuration, start: true, logger: commandLogger(label))
        try await migrateIfPrivate(opened)
        return opened
    }

    /// Connects to the configured server, or to the private cluster under the state directory — starting it
    /// when `start` allows and it is not running (`stopWhenDone` then says this command started it).
    func openDatabase(_ configuration: PortalConfiguration, start: Bool, logger: Logger) async throws -> OpenedDatabase {
        if let url = configuration.database.url {
            var settings: DatabaseSettings
            do { settings = try DatabaseSettings(url: url) } catch { fail("[database] url: \(error)", status: .usage) }
            if let file = configuration.database.passwordFile {
                settings.password = try readSecret(file, key: "[database] password_file")
            }
            do {
                return OpenedDatabase(database: try PortalDatabase(settings: settings, logger: logger), embedded: nil, startedHere: false)
            } catch { fail("[database]: \(error)", status: .usage) }
        }
        let cluster: EmbeddedPostgres
        do { cluster = try EmbeddedPostgres(directory: stateDirectory.postgres.path, logger: logger) } catch {
            fail("the private database cluster: \(error)", status: .unreachable)
        }
        var startedHere = false
        do {
            if try await !cluster.isRunning() {
                guard start else {
                    fail("the private database under \(cluster.directory) is not running: start `dicom-portal core` first, or name a shared server as [database] url", status: .unreachable)
                }
                try await cluster.start()
                startedHere = true
            }
        } catch {
            fail("the private database cluster: \(error)", status: .unreachable)
        }
        do {
            return OpenedDatabase(database: try PortalDatabase(settings: cluster.settings, logger: logger), embedded: cluster, startedHere: startedHere)
        } catch { fail("the private database cluster: \(error)", status: .unreachable) }
    }

    /// A secret alone in a file: at most 4 KiB, its trailing newline dropped. Never echoed.
    func readSecret(_ path: String, key: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { fail("\(key): cannot read \(path)", status: .usage) }
        guard data.count <= 4096, var text = String(data: data, encoding: .utf8) else {
            fail("\(key): \(path) is not a short UTF-8 text file", status: .usage)
        }
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        guard !text.isEmpty else { fail("\(key): \(path) is empty", status: .usage) }
        return text
    }
}

/// A database connection pool, and the private cluster behind it when there is one.
struct OpenedDatabase {
    let database: PortalDatabase
    let embedded: EmbeddedPostgres?
    /// This command started the private cluster, so it stops it when done.
    let startedHere: Bool

    /// Closes the pool, and stops the private cluster when this command started it.
    func close() async {
        await database.shutdown()
        if startedHere, let embedded { try? await embedded.stop() }
    }

    /// Runs `body` with the database, closing it afterwards whatever happens; database errors exit 3.
    func use<T>(_ body: (PortalDatabase) async throws -> T) async throws -> T {
        do {
            let result = try await body(database)
            await close()
            return result
        } catch {
            await close()
            throw error
        }
    }
}

enum PortalExit: Int32 {
    case success = 0
    case problem = 1
    case usage = 2
    case unreachable = 3
}

/// Prints `message` on stderr and exits with `status`.
func fail(_ message: String, status: PortalExit) -> Never {
    FileHandle.standardError.write(Data("dicom-portal: \(message)\n".utf8))
    exit(status.rawValue)
}

/// The operator running a command, for audit records: the login name, or the uid.
var commandActor: String {
    let name = ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"]
    return "cli:" + (name ?? "uid \(getuid())")
}

/// Quiet unless asked: command-line tools print their own lines; the services log.
func commandLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["DICOM_PORTAL_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .error
    return logger
}

/// The services log what they do at info (no patient data above debug); DICOM_PORTAL_LOG_LEVEL overrides.
func serviceLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["DICOM_PORTAL_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
    return logger
}
