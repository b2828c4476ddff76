import ArgumentParser
import Foundation
import PortalConfiguration
import PortalConsole
import PortalStore

/// `dicom-portal staff`: the console's staff accounts from the command line, where the first administrator comes
/// from (`staff add --role administrator` prints the enrolment link to open in a browser).
struct StaffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "staff",
        abstract: "The admin console's staff accounts: add (prints an enrolment link), list, disable, enable, reset, unlock.",
        subcommands: [Add.self, List.self, Disable.self, Enable.self, Reset.self, Unlock.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a member of staff and print their one-time enrolment link (valid 72 hours).",
            discussion: "The member opens the link, sets a password and registers a passkey. The link is shown once; nothing keeps it.")

        @OptionGroup var options: PortalOptions
        @Option(help: "Lower-case letters, digits, '.', '_' or '-'.") var username: String
        @Option(help: "The name the console shows.") var name: String
        @Option(help: "administrator, reviewer or auditor.") var role: String
        @Option(help: "Their e-mail address.") var email: String?

        func run() async throws {
            guard let parsedRole = StaffRole(rawValue: role) else {
                fail("--role must be one of: \(StaffRole.allCases.map(\.rawValue).joined(separator: ", "))", status: .usage)
            }
            let configuration = try options.loadConfiguration()
            let enrolment = try await staffChange(options, configuration) { directory in
                try await directory.add(username: username, displayName: name, email: email, role: parsedRole, actor: commandActor)
            }
            print("added \(enrolment.member.username) (\(parsedRole.rawValue)); enrolment link, valid until \(ISO8601DateFormatter().string(from: enrolment.expiresAt)):")
            print(StaffAPI.enrolmentLink(origin: configuration.console.origin, token: enrolment.token))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the members of staff: username, role, status, name.")

        @OptionGroup var options: PortalOptions

        func run() async throws {
            let members = try await staffChange(options) { try await $0.list() }
            for member in members {
                print([member.username, member.role.rawValue, member.status, member.displayName].joined(separator: "\t"))
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a member: they cannot sign in and their sessions end.")
        @OptionGroup var options: PortalOptions
        @Argument(help: "The member's username.") var username: String
        func run() async throws {
            try await staffChange(options) { try await $0.disable(username: username, actor: commandActor) }
            print("disabled \(username)")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled member again.")
        @OptionGroup var options: PortalOptions
        @Argument(help: "The member's username.") var username: String
        func run() async throws {
            try await staffChange(options) { try await $0.enable(username: username, actor: commandActor) }
            print("enabled \(username)")
        }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Clear a member's password and second factors and print a new enrolment link (valid 72 hours).")
        @OptionGroup var options: PortalOptions
        @Argument(help: "The member's username.") var username: String
        func run() async throws {
            let configuration = try options.loadConfiguration()
            let enrolment = try await staffChange(options, configuration) { try await $0.reset(username: username, actor: commandActor) }
            print("reset \(username); new enrolment link, valid until \(ISO8601DateFormatter().string(from: enrolment.expiresAt)):")
            print(StaffAPI.enrolmentLink(origin: configuration.console.origin, token: enrolment.token))
        }
    }

    struct Unlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unlock a member locked after too many wrong second factors.")
        @OptionGroup var options: PortalOptions
        @Argument(help: "The member's username.") var username: String
        func run() async throws {
            try await staffChange(options) { try await $0.unlock(username: username, actor: commandActor) }
            print("unlocked \(username)")
        }
    }
}

/// Opens the database (starting the private cluster if needed), runs `body` on the staff directory and closes it; a
/// refusal (unknown member, username taken, the last administrator) is exit 1 with its description.
@discardableResult
private func staffChange<T>(_ options: PortalOptions, _ configuration: PortalConfiguration? = nil,
                            _ body: (StaffDirectory) async throws -> T) async throws -> T {
    let configuration = try configuration ?? options.loadConfiguration()
    let opened = try await options.openMigrated(configuration, logger: "dicom-portal.staff")
    return try await opened.use { database in
        do { return try await body(StaffDirectory(database)) } catch let error as StaffError {
            await opened.close()
            fail("\(error)", status: .problem)
        }
    }
}
