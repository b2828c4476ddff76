import AgentConfiguration
import ArgumentParser
import Foundation

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
    var stateDirectory: URL {
        if let stateDir { return URL(fileURLWithPath: stateDir) }
        let environment = ProcessInfo.processInfo.environment
        if let fromEnvironment = environment["KIOSK_AGENT_STATE_DIR"], !fromEnvironment.isEmpty {
            return URL(fileURLWithPath: fromEnvironment)
        }
        if geteuid() == 0 { return URL(fileURLWithPath: "/var/lib/kiosk-agent") }
        let home = environment["HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser
        return home.appendingPathComponent(".local/state/kiosk-agent")
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
