import AgentConfiguration
import ArgumentParser
import Foundation
import IngestPipeline
import PortalConfiguration
import PortalStore

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the configuration: syntax and values (errors name the key and line), the PACS destination and its TLS material and credentials, the database URL and password file, the Protector policy.",
        discussion: "Exit codes: 0 valid; 2 invalid (every problem is printed). Nothing is contacted.")

    @OptionGroup var options: PortalOptions

    func run() async throws {
        let path = options.configurationPath ?? "built-in defaults"
        let configuration = try options.loadConfiguration()
        var problems: [String] = []
        let pipeline = configuration.pipeline
        let workerState = StateDirectory(options.stateDirectory.worker)
        var destination: Destination?
        do { destination = try Destination(parsing: pipeline.destination ?? "archive:", stateDirectory: workerState) } catch {
            problems.append("delivery.destination: \(error)")
        }
        if let destination, destination.spoolKey != nil {
            do { _ = try DeliverySetup.target(for: destination, pipeline, callingAE: nil) } catch { problems.append("\(error)") }
        }
        do { _ = try ProtectorSetup.make(pipeline, signatures: [], reconciliation: nil) } catch { problems.append("\(error)") }
        if let url = configuration.database.url {
            do { _ = try DatabaseSettings(url: url) } catch { problems.append("database.url: \(error)") }
            if let file = configuration.database.passwordFile, !FileManager.default.isReadableFile(atPath: file) {
                problems.append("database.password_file: cannot read \(file)")
            }
        } else if configuration.database.passwordFile != nil {
            problems.append("database.password_file is set but database.url is not (the private cluster needs no password)")
        }
        if let staging = configuration.staging.directory {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: staging, isDirectory: &isDirectory), !isDirectory.boolValue {
                problems.append("staging.directory: \(staging) is not a directory")
            }
        }
        switch (configuration.edge.certificate, configuration.edge.key) {
        case (nil, nil): break
        case let (certificate?, key?):
            for file in [certificate, key] where !FileManager.default.isReadableFile(atPath: file) { problems.append("[edge]: cannot read \(file)") }
        default: problems.append("[edge] certificate and key go together")
        }
        if !problems.isEmpty {
            for problem in problems { FileHandle.standardError.write(Data("\(path): \(problem)\n".utf8)) }
            throw ExitCode(PortalExit.usage.rawValue)
        }
        let database = configuration.database.url.map { _ in "shared server" } ?? "private cluster under \(options.stateDirectory.postgres.path)"
        print("\(path): valid (core \(configuration.core.listen), database \(database), delivery \(destination?.description ?? "?"))")
    }
}
