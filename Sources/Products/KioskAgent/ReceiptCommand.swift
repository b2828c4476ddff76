import AgentConfiguration
import ArgumentParser
import Foundation
import IngestPipeline

struct ReceiptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipt",
        abstract: "Show or print a session's receipt, found by its lookup code or session ID.",
        subcommands: [Show.self, Print.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the receipt (text, or the HTML page with --html).",
                                                        discussion: "Exit codes: 0 shown; 1 no such receipt; 2 usage error.")
        @Argument(help: "The lookup code on the receipt (e.g. 7K3MQ-9TX4B) or the session ID.")
        var code: String

        @Flag(help: "The self-contained HTML page instead of the text.")
        var html = false

        @OptionGroup var common: CommonOptions

        func run() throws {
            let state = try common.existingStateDirectory()
            guard let kept = ReceiptFiles.find(code, stateDirectory: state) else {
                FileHandle.standardError.write(Data("no receipt for \(code) in \(state.root.path)/receipts\n".utf8))
                throw ExitCode(1)
            }
            let url = html ? kept.html : kept.text
            guard let data = FileManager.default.contents(atPath: url.path) else {
                FileHandle.standardError.write(Data("cannot read \(url.path)\n".utf8))
                throw ExitCode(1)
            }
            FileHandle.standardOutput.write(data)
        }
    }

    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the text receipt through CUPS (lp).",
                                                        discussion: "Exit codes: 0 queued for printing; 1 no such receipt or lp failed; 2 usage error.")
        @Argument(help: "The lookup code on the receipt or the session ID.")
        var code: String

        @Option(help: "The CUPS queue (default [receipt] printer).")
        var printer: String?

        @OptionGroup var common: CommonOptions

        func run() throws {
            let configuration = try common.loadConfiguration()
            guard let queue = printer ?? configuration.receipt.printer else {
                throw ValidationError("no printer: give --printer or set [receipt] printer")
            }
            let state = try common.existingStateDirectory()
            guard let kept = ReceiptFiles.find(code, stateDirectory: state) else {
                FileHandle.standardError.write(Data("no receipt for \(code) in \(state.root.path)/receipts\n".utf8))
                throw ExitCode(1)
            }
            do { try ReceiptFiles.print(kept, printer: queue) } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(1)
            }
            print("receipt \(kept.lookupCode) sent to \(queue)")
        }
    }
}
