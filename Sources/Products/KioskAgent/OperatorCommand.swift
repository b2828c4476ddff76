import AgentConfiguration
import ArgumentParser
import Credentials
import Foundation
import IngestPipeline
import OperatorAccess
#if canImport(Glibc)
import Glibc
#endif

struct OperatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Provision the front-desk operators who may sign in (PIN + TOTP).",
        subcommands: [Add.self, List.self, Remove.self, Unlock.self],
        defaultSubcommand: List.self
    )

    /// The operator store. `creating` for `add` and the service; the other commands read what is
    /// there, and a state directory that does not exist is said so, not shown as "no operators".
    static func store(_ common: CommonOptions, creating: Bool = false) throws -> OperatorStore {
        let state = creating ? common.stateDirectory : try common.existingStateDirectory()
        do { return try OperatorStore(directory: state.operators) } catch {
            throw ValidationError("cannot open the operator store: \(error)")
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an operator. The PIN is asked twice on the terminal (or read from stdin); the TOTP secret is printed once, to enrol in an authenticator app.")

        @Argument(help: "The operator's name, as typed or scanned from a badge at sign-in.")
        var name: String

        @OptionGroup var common: CommonOptions

        func run() throws {
            common.announceStateDirectory()
            let pin = try Self.readPIN()
            let totp: TOTP
            do { totp = try OperatorCommand.store(common, creating: true).add(name, pin: pin) } catch let error as OperatorStore.StoreError {
                throw ValidationError("\(error)")
            }
            print("operator \(name) added")
            print("TOTP secret (shown once; enrol it in the operator's authenticator app now): \(Base32.encode(totp.secret))")
            print(totp.provisioningURI(account: name, issuer: "kiosk-agent"))
        }

        /// From a terminal: twice, without echo. Otherwise one line of stdin (provisioning scripts).
        static func readPIN() throws -> String {
            guard isatty(STDIN_FILENO) == 1 else {
                guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw ValidationError("no PIN on stdin") }
                return line
            }
            let first = try prompt("PIN (6-12 digits): "), second = try prompt("PIN again: ")
            guard first == second else { throw ValidationError("the two PINs differ") }
            return first
        }

        private static func prompt(_ text: String) throws -> String {
            FileHandle.standardError.write(Data(text.utf8))
            var saved = termios()
            tcgetattr(STDIN_FILENO, &saved)
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
            defer {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
                FileHandle.standardError.write(Data("\n".utf8))
            }
            guard let line = readLine(strippingNewline: true) else { throw ValidationError("no PIN given") }
            return line
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List operators: last sign-in, failures, lockouts.")

        @OptionGroup var common: CommonOptions

        func run() throws {
            let operators = try OperatorCommand.store(common).list()
            if operators.isEmpty { print("no operators"); return }
            let format = ISO8601DateFormatter()
            for entry in operators {
                var line = "\(entry.name)  added \(format.string(from: entry.createdAt))"
                line += entry.lastSignInAt.map { ", last sign-in \(format.string(from: $0))" } ?? ", never signed in"
                if entry.failures > 0 { line += ", \(entry.failures) failure(s)" }
                if let until = entry.lockedUntil, until > Date() { line += ", locked until \(format.string(from: until))" }
                print(line)
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an operator.")
        @Argument var name: String
        @OptionGroup var common: CommonOptions

        func run() throws {
            do { try OperatorCommand.store(common).remove(name) } catch let error as OperatorStore.StoreError {
                throw ValidationError("\(error)")
            }
            print("operator \(name) removed")
        }
    }

    struct Unlock: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Clear an operator's failures and lockout.")
        @Argument var name: String
        @OptionGroup var common: CommonOptions

        func run() throws {
            do { try OperatorCommand.store(common).unlock(name) } catch let error as OperatorStore.StoreError {
                throw ValidationError("\(error)")
            }
            print("operator \(name) unlocked")
        }
    }
}
