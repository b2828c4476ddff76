import AgentConfiguration
import ArgumentParser
import AuditTrail
import Foundation
import IngestPipeline

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Verify, export or forward (IHE ATNA) the tamper-evident audit trail (STATE/audit).",
        subcommands: [Verify.self, Export.self, Forward.self]
    )

    struct Forward: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send the records not yet sent to the [atna] repository now, as DICOM audit messages over syslog.",
            discussion: "Exit codes: 0 nothing left queued; 6 records stay queued (the repository did not answer); 2 no [atna] repository configured.")

        @OptionGroup var common: CommonOptions

        func run() async throws {
            let configuration = try common.loadConfiguration()
            guard let forwarder = try ATNASetup.forwarder(try common.existingStateDirectory(), configuration) else {
                throw ValidationError("no [atna] repository is configured")
            }
            let outcome = await forwarder.forward()
            if outcome.busy { print("another kiosk-agent process is forwarding right now; try again in a moment") }
            print("\(outcome.sent) record(s) forwarded as \(outcome.messages) message(s) to \(forwarder.sender.repository)")
            if outcome.skipped > 0 { print("\(outcome.skipped) message(s) larger than a UDP datagram were skipped") }
            if let error = outcome.error {
                FileHandle.standardError.write(Data("\(error); \(forwarder.queued()) record(s) stay queued\n".utf8))
                throw ExitStatus.deliveryPending.exitCode
            }
            if outcome.busy { throw ExitStatus.deliveryPending.exitCode }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every record's hash, the chain, the checkpoints' signatures and the signed head.",
            discussion: "Exit codes: 0 intact; 1 altered (the first bad record is named); 2 usage error.")

        @Option(help: "The Ed25519 public key (base64) to verify with, instead of audit.pub beside the trail (an auditor's own copy).")
        var publicKey: String?

        @OptionGroup var common: CommonOptions

        func run() throws {
            let directory = try common.existingStateDirectory().audit
            do {
                let key = try publicKey.map { path -> String in try String(contentsOfFile: path, encoding: .utf8) }
                    .flatMap { Data(base64Encoded: $0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                    .map { try AuditKey.publicKey($0) }
                let summary = try AuditVerifier.verify(directory, publicKey: key)
                print("audit trail intact: \(summary.records) record(s), \(summary.checkpoints) signed checkpoint(s)"
                      + (summary.unsigned > 0 ? ", \(summary.unsigned) record(s) since the last checkpoint" : ""))
            } catch let problem as AuditVerifier.Problem {
                FileHandle.standardError.write(Data("audit trail NOT intact: \(problem)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the records (JSON lines) from a date on, for auditors.")

        @Option(help: "ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T08:00:00Z.")
        var since: String?

        @Option(help: "ISO 8601 date or time.")
        var until: String?

        @OptionGroup var common: CommonOptions

        func run() throws {
            func date(_ text: String?, _ name: String) throws -> Date? {
                guard let text else { return nil }
                let full = ISO8601DateFormatter()
                let day = ISO8601DateFormatter()
                day.formatOptions = [.withFullDate]
                guard let date = full.date(from: text) ?? day.date(from: text) else {
                    throw ValidationError("--\(name) must be an ISO 8601 date (2026-11-01) or time (2026-11-01T08:00:00Z)")
                }
                return date
            }
            for line in try AuditVerifier.export(try common.existingStateDirectory().audit,
                                                 since: try date(since, "since"), until: try date(until, "until")) {
                print(line)
            }
        }
    }
}
