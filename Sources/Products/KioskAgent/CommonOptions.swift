import AgentConfiguration
import ArgumentParser
import Foundation
import IngestPipeline

/// Flags every subcommand takes (ARCHITECTURE.md §3.1).
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp(
        "State directory (archive, quarantine, reports).",
        discussion: "Default: $KIOSK_AGENT_STATE_DIR, else /var/lib/kiosk-agent as root, else ~/.local/state/kiosk-agent."),
        completion: .directory)
    var stateDir: String?

    @Option(help: ArgumentHelp("Configuration file (TOML).",
                               discussion: "Default: $KIOSK_AGENT_CONFIG, else /etc/kiosk-agent/kiosk-agent.toml when it exists."),
            completion: .file())
    var config: String?

    /// The state directory, resolved by the documented precedence.
    var stateDirectory: StateDirectory { StateDirectory(resolvedStateDirectory.url) }

    /// The state directory and what chose it, in words for the line that names it.
    var resolvedStateDirectory: (url: URL, origin: String) {
        if let stateDir { return (URL(fileURLWithPath: stateDir), "from --state-dir") }
        let environment = ProcessInfo.processInfo.environment
        if let fromEnvironment = environment["KIOSK_AGENT_STATE_DIR"], !fromEnvironment.isEmpty {
            return (URL(fileURLWithPath: fromEnvironment), "from $KIOSK_AGENT_STATE_DIR")
        }
        if geteuid() == 0 { return (URL(fileURLWithPath: "/var/lib/kiosk-agent"), "the default as root") }
        let home = environment["HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser
        return (home.appendingPathComponent(".local/state/kiosk-agent"), "the default for a user")
    }

    /// "/var/lib/kiosk-agent (the default as root)".
    var stateDirectoryDescription: String {
        let (url, origin) = resolvedStateDirectory
        return "\(url.path) (\(origin))"
    }

    /// Names the state directory on stderr, one line, so that nobody has to guess which one a
    /// command used (root and a user each have their own default).
    func announceStateDirectory() {
        FileHandle.standardError.write(Data("state directory: \(stateDirectoryDescription)\n".utf8))
    }

    /// For commands that read what earlier sessions left: names the state directory, and when it
    /// does not exist says so and exits 2 — an empty answer from the wrong directory would mislead.
    func existingStateDirectory() throws -> StateDirectory {
        announceStateDirectory()
        let url = stateDirectory.root
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            FileHandle.standardError.write(Data("""
                the state directory \(url.path) does not exist: no session was ever kept there.
                Give the one ingest or the service used with --state-dir DIR (or KIOSK_AGENT_STATE_DIR).

                """.utf8))
            throw ExitStatus.usage.exitCode
        }
        guard isDirectory.boolValue else {
            FileHandle.standardError.write(Data("the state directory \(url.path) is not a directory\n".utf8))
            throw ExitStatus.usage.exitCode
        }
        return stateDirectory
    }

    /// The `--state-dir` to repeat in a command printed for later, when the default would not find the same directory.
    var stateDirectoryArgument: String {
        guard let stateDir else { return "" }
        return " --state-dir " + (stateDir.contains(where: { " '\"$\\".contains($0) }) ? "'\(stateDir.replacingOccurrences(of: "'", with: "'\\''"))'" : stateDir)
    }

    /// Where provisioning installs the configuration.
    static let systemConfiguration = "/etc/kiosk-agent/kiosk-agent.toml"

    /// `--config`, else `$KIOSK_AGENT_CONFIG`, else the system file when it exists, else the defaults.
    var configurationPath: String? {
        if let config { return config }
        if let fromEnvironment = ProcessInfo.processInfo.environment["KIOSK_AGENT_CONFIG"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return FileManager.default.fileExists(atPath: CommonOptions.systemConfiguration) ? CommonOptions.systemConfiguration : nil
    }

    func loadConfiguration() throws -> Configuration {
        guard let path = configurationPath else { return Configuration() }
        do {
            return try Configuration(contentsOf: URL(fileURLWithPath: path))
        } catch let error as Configuration.Error {
            throw ValidationError("configuration \(path): \(error)")
        }
    }
}
