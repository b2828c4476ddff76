import AgentConfiguration
import ArgumentParser
import Foundation
import IngestPipeline

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the configuration file.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the configuration: syntax and values (errors name the key and line), the destination URL, TLS material, DICOMweb credentials files and signature databases.",
            discussion: "Exit codes: 0 valid; 2 invalid (every problem is printed).")

        @OptionGroup var common: CommonOptions

        func run() async throws {
            let path = common.configurationPath ?? "built-in defaults"
            let configuration = try common.loadConfiguration()
            var problems: [String] = []
            var destination: Destination?
            do {
                destination = try Destination(parsing: configuration.destination ?? "archive:", stateDirectory: common.stateDirectory)
            } catch { problems.append("destination: \(error)") }
            if let destination, destination.spoolKey != nil {
                do { _ = try DeliverySetup.target(for: destination, configuration, callingAE: nil) } catch { problems.append("\(error)") }
            }
            do { _ = try ATNASetup.forwarder(common.stateDirectory, configuration) } catch { problems.append("\(error)") }
            do { _ = try ProtectorSetup.make(configuration, signatures: [], reconciliation: nil) } catch { problems.append("\(error)") }
            if !problems.isEmpty {
                for problem in problems { FileHandle.standardError.write(Data("\(path): \(problem)\n".utf8)) }
                throw ExitCode(ExitStatus.usage.rawValue)
            }
            print("\(path): valid (destination \(destination?.description ?? "?"))")
        }
    }
}
