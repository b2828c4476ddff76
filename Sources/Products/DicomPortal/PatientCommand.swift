import ArgumentParser
import Foundation
import PortalStore

struct PatientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patient",
        abstract: "The patient registry: who uploads are compared with.",
        subcommands: [Add.self, Import.self, List.self, InviteCommand.self, UnlockCommand.self])

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
            let opened = try await options.openDatabase(configuration, start: true, logger: commandLogger("dicom-portal.patient"))
            try await migrateIfPrivate(opened)
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
                Exit 1 when any line was refused.
                """)

        @OptionGroup var options: PortalOptions
        @Argument(help: "The CSV file (UTF-8, comma separated, double quotes around values with commas).") var file: String

        func run() async throws {
            let configuration = try options.loadConfiguration()
            guard let data = FileManager.default.contents(atPath: file) else { fail("cannot read \(file)", status: .usage) }
            guard data.count <= 256 << 20, let text = String(data: data, encoding: .utf8) else {
                fail("\(file) is not UTF-8 text of at most 256 MiB", status: .usage)
            }
            let rows: [PatientCSV.Row]
            do { rows = try PatientCSV.parse(text, defaultIssuer: configuration.pipeline.reconciliation.issuerOfPatientID ?? "") } catch {
                fail("\(file): \(error)", status: .usage)
            }
            let opened = try await options.openDatabase(configuration, start: true, logger: commandLogger("dicom-portal.patient"))
            try await migrateIfPrivate(opened)
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
            let opened = try await options.openDatabase(configuration, start: true, logger: commandLogger("dicom-portal.patient"))
            try await migrateIfPrivate(opened)
            let patients = try await opened.use { try await PatientRegistry($0).list() }
            for patient in patients {
                print([patient.patientID, patient.issuer, patient.name, patient.birthDate, patient.sex ?? "", patient.email ?? ""].joined(separator: "\t"))
            }
        }
    }
}

/// The registry's CSV import format: a header naming the columns, RFC 4180 quoting.
enum PatientCSV {
    struct Row {
        let line: Int
        let result: Result<RegisteredPatient, PatientRecordError>
    }

    struct FormatError: Error, CustomStringConvertible {
        let description: String
    }

    static let required = ["patient_id", "name", "birth_date"]
    static let known = Set(required + ["issuer", "sex", "email"])

    static func parse(_ text: String, defaultIssuer: String) throws -> [Row] {
        var records = try records(text)
        guard !records.isEmpty else { throw FormatError(description: "the file is empty (expected a header line)") }
        let (_, header) = records.removeFirst()
        let columns = header.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for column in columns where !known.contains(column) {
            throw FormatError(description: "line 1: unknown column '\(column)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        for column in required where !columns.contains(column) {
            throw FormatError(description: "line 1: the column '\(column)' is missing")
        }
        guard Set(columns).count == columns.count else { throw FormatError(description: "line 1: a column is named twice") }
        return records.compactMap { (line, fields) -> Row? in
            if fields.count == 1 && fields[0].trimmingCharacters(in: .whitespaces).isEmpty { return nil }
            guard fields.count == columns.count else {
                return Row(line: line, result: .failure(.invalid("\(fields.count) fields where the header names \(columns.count)")))
            }
            var values: [String: String] = [:]
            for (column, field) in zip(columns, fields) {
                let value = field.trimmingCharacters(in: .whitespaces)
                if !value.isEmpty { values[column] = value }
            }
            let patient = RegisteredPatient(patientID: values["patient_id"] ?? "", issuer: values["issuer"] ?? defaultIssuer,
                                            name: values["name"] ?? "", birthDate: values["birth_date"] ?? "",
                                            sex: values["sex"]?.uppercased(), email: values["email"])
            do throws(PatientRecordError) { try patient.validate() } catch { return Row(line: line, result: .failure(error)) }
            return Row(line: line, result: .success(patient))
        }
    }

    /// RFC 4180 records with the line each starts on; a quoted field may span lines.
    static func records(_ text: String) throws -> [(Int, [String])] {
        var records: [(Int, [String])] = []
        var fields: [String] = []
        var field = ""
        var quoted = false
        var line = 1
        var recordLine = 1
        var characters = text.unicodeScalars.makeIterator()
        if text.unicodeScalars.first == "\u{FEFF}" { _ = characters.next() }
        var pending: Unicode.Scalar?
        func next() -> Unicode.Scalar? {
            if let scalar = pending { pending = nil; return scalar }
            return characters.next()
        }
        while let scalar = next() {
            if quoted {
                if scalar == "\"" {
                    if let following = next() {
                        if following == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; pending = following }
                    } else { quoted = false }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"" where field.isEmpty: quoted = true
            case ",": fields.append(field); field = ""
            case "\r": break
            case "\n":
                fields.append(field); field = ""
                records.append((recordLine, fields)); fields = []
                line += 1
                recordLine = line
            default:
                field.unicodeScalars.append(scalar)
            }
        }
        if quoted { throw FormatError(description: "line \(recordLine): a quoted field is not closed") }
        if !field.isEmpty || !fields.isEmpty { fields.append(field); records.append((recordLine, fields)) }
        return records
    }
}
