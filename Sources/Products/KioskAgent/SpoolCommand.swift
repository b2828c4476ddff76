import AgentConfiguration
import ArgumentParser
import Delivery
import Foundation
import IngestPipeline

struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Show and drive the delivery spool (instances waiting for a network destination).",
        subcommands: [List.self, Retry.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List spooled instances: per destination the counts by state, then every instance not yet stored.")

        @Flag(help: "Also list the instances already stored.")
        var all = false

        @Flag(help: "Print JSON instead of text.")
        var json = false

        @OptionGroup var common: CommonOptions

        func run() async throws {
            let configuration = try common.loadConfiguration()
            let spool = try SpoolSetup.open(try common.existingStateDirectory(), configuration)
            let rows = try spool.instances(states: all ? nil : [.pending, .sending, .failed])
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                FileHandle.standardOutput.write(try encoder.encode(rows.map(Listed.init)) + Data("\n".utf8))
                return
            }
            print(SpoolCommand.render(try spool.instances(), shown: rows))
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send everything pending or failed now, then wait for the destinations (up to [delivery] wait_seconds).",
            discussion: "Exit codes: 0 everything stored; 3 some instances were refused by the destination; 6 some are still pending; 2 usage or configuration error.")

        @Option(help: "Only this destination (as listed by spool list).")
        var destination: String?

        @Option(name: .customLong("calling-ae"), help: "Our AE title (default: [delivery] calling_ae).")
        var callingAE: String?

        @OptionGroup var common: CommonOptions

        func run() async throws {
            let configuration = try common.loadConfiguration()
            let spool = try SpoolSetup.open(try common.existingStateDirectory(), configuration)
            let destinations = try destination.map { [$0] } ?? spool.destinationsWithWork()
            try spool.retryNow(destination: destination)
            let deadline = Date().addingTimeInterval(Double(configuration.delivery.waitSeconds))
            for url in destinations {
                let parsed = try Destination(parsing: url, stateDirectory: common.stateDirectory)
                let target = try DeliverySetup.target(for: parsed, configuration, callingAE: callingAE)
                try await SpoolDrainer(spool: spool, target: target,
                                       observer: TransferAudit(stateDirectory: common.stateDirectory, actor: "cli")).drain(deadline: { deadline })
            }
            await ATNASetup.forward(try ATNASetup.forwarder(common.stateDirectory, configuration)) {
                FileHandle.standardError.write(Data(($0 + "\n").utf8))
            }
            let rows = try spool.instances().filter { destinations.contains($0.destination) }
            print(SpoolCommand.render(rows, shown: rows.filter { $0.state != .stored }))
            if rows.contains(where: { $0.state == .pending || $0.state == .sending }) { throw ExitStatus.deliveryPending.exitCode }
            if rows.contains(where: { $0.state == .failed }) { throw ExitStatus.someRejected.exitCode }
        }
    }

    /// What `spool list --json` shows of an instance (no file paths inside the state directory).
    struct Listed: Encodable {
        let destination, sopInstanceUID, sopClassUID, studyInstanceUID, sessionID, state: String
        let attempts: Int
        let size: Int64
        let failureCode, lastError: String?
        let nextAttemptAt: Date?

        init(_ row: SpooledInstance) {
            destination = row.destination; sopInstanceUID = row.sopInstanceUID; sopClassUID = row.sopClassUID
            studyInstanceUID = row.studyInstanceUID; sessionID = row.sessionID; state = row.state.rawValue
            attempts = row.attempts; size = row.size; failureCode = row.failureCode; lastError = row.lastError
            nextAttemptAt = row.state == .pending && row.nextAttemptAt > 0 && row.nextAttemptAt < Spool.held ? Date(timeIntervalSince1970: row.nextAttemptAt) : nil
        }
    }

    /// Counts per destination and state, then one line per shown instance. UIDs only: no patient data.
    static func render(_ rows: [SpooledInstance], shown: [SpooledInstance]) -> String {
        var lines: [String] = []
        let byDestination = Dictionary(grouping: rows, by: \.destination)
        if byDestination.isEmpty { return "the spool is empty" }
        for (destination, instances) in byDestination.sorted(by: { $0.key < $1.key }) {
            let counts = SpooledInstance.State.allCases.compactMap { state -> String? in
                let n = instances.filter { $0.state == state }.count
                return n == 0 ? nil : "\(n) \(state.rawValue)"
            }
            lines.append("\(destination): " + counts.joined(separator: ", "))
        }
        let formatter = ISO8601DateFormatter()
        for row in shown {
            var line = "  \(row.state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(row.sopInstanceUID)  attempts \(row.attempts)"
            if row.state == .pending, row.nextAttemptAt >= Spool.held {
                line += ", held until the operator reviews it (spool retry sends it anyway)"
            } else if row.state == .pending, row.nextAttemptAt > Date().timeIntervalSince1970 {
                line += ", next \(formatter.string(from: Date(timeIntervalSince1970: row.nextAttemptAt)))"
            }
            if let code = row.failureCode { line += ", \(code)" }
            if let error = row.lastError { line += ": \(error)" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
