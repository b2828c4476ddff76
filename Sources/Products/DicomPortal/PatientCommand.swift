import ArgumentParser
import Foundation
import PortalStore

struct PatientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patient",
        abstract: "The patient registry: who uploads are compared with.",
        subcommands: [Add.self, Import.self, List.self, InviteCommand.self, UnlockCommand.self, ResetSecondFactorCommand.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register one patient.")

        @OptionGroup var options: PortalOptions
        @Option(help: "The hospital's Patient ID.") var id: String
        @Option(help: "Name in DICOM form, Family^Given.") var name: String
        @Option(name: .customLong("birth-date"), help: "YYYYMMDD.") var birthDate: String
        @Option(help: "M, F or O.") var sex: String?
        @Option(help: "Where invitations go.") var email: String?
        @Option(help: "Issuer of the Patient ID (default: [reconciliation] issuer_of_patient_id).") var issuer: String?

        func run() async throws {
            let configuration = try options.loadConfiguration()
            let patient = RegisteredPatient(patientID: id, issuer: issuer ?? configuration.pipeline.reconciliation.issuerOfPatientID ?? "",
                                            name: name, birthDate: birthDate, sex: sex, email: email)
            do { try patient.validate() } catch { fail("\(error)", status: .usage) }
            let opened = try await options.openMigrated(configuration, logger: "dicom-portal.patient")
            try await opened.use { database in
                do { try await PatientRegistry(database).add(patient, actor: commandActor) } catch let error as PatientRecordError {
                    await opened.close()
                    fail("\(error)", status: .problem)
                }
            }
            print("registered patient \(patient.patientID)")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register patients from a CSV file.",
            discussion: """
                The first line names the columns: patient_id, name, birth_date, and optionally issuer, sex, email \
                (any order). Each bad line is reported with its number and skipped; the others are registered. \
                Exit 1 when any line was refused. (The console's import takes the same format.)
                """)

        @OptionGroup var options: PortalOptions
        @Argument(help: "The CSV file (UTF-8, comma separated, double quotes around values with commas).") var file: String

        func run() async throws {
            let configuration = try options.loadConfiguration()
            guard let data = FileManager.default.contents(atPath: file) else { fail("cannot read \(file)", status: .usage) }
            let rows: [PatientCSV.Row]
            do {
                rows = try PatientCSV.parse(data, defaultIssuer: configuration.pipeline.reconciliation.issuerOfPatientID ?? "",
                                            limits: PatientCSV.Limits(maxBytes: 256 << 20, maxRows: 1_000_000))
            } catch { fail("\(file): \(error)", status: .usage) }
            let opened = try await options.openMigrated(configuration, logger: "dicom-portal.patient")
            let (added, refused) = try await opened.use { database in
                let registry = PatientRegistry(database)
                var added = 0, refused = 0
                for row in rows {
                    switch row.result {
                    case .failure(let problem):
                        refused += 1
                        FileHandle.standardError.write(Data("\(file): line \(row.line): \(problem)\n".utf8))
                    case .success(let patient):
                        do {
                            try await registry.add(patient, actor: commandActor)
                            added += 1
                        } catch let error as PatientRecordError {
                            refused += 1
                            FileHandle.standardError.write(Data("\(file): line \(row.line): \(error)\n".utf8))
                        }
                    }
                }
                return (added, refused)
            }
            print("registered \(added) patient\(added == 1 ? "" : "s"); refused \(refused)")
            if refused > 0 { throw ExitCode(PortalExit.problem.rawValue) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered patients (tab separated: ID, issuer, name, birth date, sex, e-mail).")

        @OptionGroup var options: PortalOptions

        func run() async throws {
            let configuration = try options.loadConfiguration()
            let opened = try await options.openMigrated(configuration, logger: "dicom-portal.patient")
            let patients = try await opened.use { try await PatientRegistry($0).list() }
            for patient in patients {
                print([patient.patientID, patient.issuer, patient.name, patient.birthDate, patient.sex ?? "", patient.email ?? ""].joined(separator: "\t"))
            }
        }
    }
}
