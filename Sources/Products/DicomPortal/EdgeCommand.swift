import ArgumentParser

struct EdgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edge",
        abstract: "The patients' site in the DMZ, and its link to core.",
        subcommands: [EdgeProvisionCommand.self])
}
