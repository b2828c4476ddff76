import ArgumentParser
import Foundation
import PortalPKI
import PortalStore

struct KioskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiosk",
        abstract: "Kiosks that upload to this portal over mutual TLS.",
        subcommands: [Add.self, List.self, Revoke.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a kiosk's client certificate: DIR/kiosk.crt, DIR/kiosk.key (0600) and DIR/portal-ca.crt.",
            discussion: "Copy DIR to the kiosk and name the files as [portal] certificate, key and ca_file in its configuration.")

        @OptionGroup var options: PortalOptions
        @Argument(help: "The kiosk's name (letters, digits, - and _).") var name: String
        @Option(help: "Where to write the kiosk's files.", completion: .directory) var out: String
        @Option(help: "The hospital, as the portal CA names it when it is created.") var organization = "Hospital"

        func run() async throws {
            let configuration = try options.loadConfiguration()
            do { _ = try KioskName(name) } catch { fail("\(error)", status: .usage) }
            let opened = try await options.openMigrated(configuration, logger: "dicom-portal.kiosk")
            let issued = try await opened.use { database in
                let registry = KioskRegistry(database)
                if try await registry.list().contains(where: { $0.name == name }) {
                    await opened.close()
                    fail("\(KioskRecordError.alreadyRegistered(name))", status: .problem)
                }
                let issued: IssuedKiosk
                do {
                    let authority = try PortalAuthority.openOrCreate(directory: options.stateDirectory.pki.path, organization: organization)
                    issued = try authority.issueKiosk(name: name, outputDirectory: out)
                } catch {
                    await opened.close()
                    fail("\(error)", status: .problem)
                }
                do {
                    try await registry.add(name: name, serial: issued.serial, fingerprint: issued.fingerprint, actor: commandActor)
                } catch {
                    // Unregistered, the certificate is refused by core anyway; remove it so nobody installs it.
                    for file in ["kiosk.key", "kiosk.crt"] { try? FileManager.default.removeItem(atPath: "\(out)/\(file)") }
                    throw error
                }
                return issued
            }
            print("kiosk \(name): certificate serial \(issued.serial), valid until \(ISO8601DateFormatter().string(from: issued.notValidAfter))")
            print("wrote \(out)/kiosk.crt, \(out)/kiosk.key, \(out)/portal-ca.crt")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List kiosks (tab separated: name, state, serial, fingerprint, added).")

        @OptionGroup var options: PortalOptions

        func run() async throws {
            let configuration = try options.loadConfiguration()
            let opened = try await options.openMigrated(configuration, logger: "dicom-portal.kiosk")
            let kiosks = try await opened.use { try await KioskRegistry($0).list() }
            let format = ISO8601DateFormatter()
            for kiosk in kiosks {
                let state = kiosk.revokedAt.map { "revoked \(format.string(from: $0))" } ?? "active"
                print([kiosk.name, state, kiosk.certificateSerial, kiosk.certificateFingerprint, format.string(from: kiosk.createdAt)].joined(separator: "\t"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a kiosk's certificate: refused at its next connection, and a running core cuts its open ones.")

        @OptionGroup var options: PortalOptions
        @Argument(help: "The kiosk's name.") var name: String

        func run() async throws {
            let configuration = try options.loadConfiguration()
            let opened = try await options.openMigrated(configuration, logger: "dicom-portal.kiosk")
            let serial = try await opened.use { database in
                do { return try await KioskRegistry(database).revoke(name: name, actor: commandActor) } catch let error as KioskRecordError {
                    await opened.close()
                    fail("\(error)", status: .problem)
                }
            }
            print("kiosk \(name) revoked (certificate serial \(serial))")
        }
    }
}
