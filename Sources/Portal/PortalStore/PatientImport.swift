import Foundation
import Logging
import PostgresNIO

/// What became of one row of a CSV import (or would, in a dry run).
public struct PatientImportRow: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// Dry run: the row would be registered.
        case valid
        case registered(id: Int64)
        /// The patient (Patient ID and issuer) is on record already; nothing changed.
        case alreadyRegistered(id: Int64)
        /// An earlier row of the file names the same patient.
        case duplicate(ofLine: Int)
        case invalid(String)
    }

    public let line: Int
    /// As the row gives them, when it could be read.
    public let patientID: String?
    public let issuer: String?
    public let outcome: Outcome
}

/// Registers the rows of a parsed CSV file: each row on its own merits (a bad row does not stop the others), rows
/// naming a registered patient or repeating an earlier row reported as such. The import is one transaction with its
/// `patient.registered` records and one `patient.imported` record counting the outcomes.
public struct PatientImporter: Sendable {
    let database: PortalDatabase
    private var logger: Logger { database.logger }

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// With `dryRun`, nothing is written (and nothing audited): the answer says what the import would do.
    public func run(_ rows: [PatientCSV.Row], dryRun: Bool, actor: String) async throws -> [PatientImportRow] {
        var planned: [PatientImportRow] = []
        var firstLine: [Key: Int] = [:]
        var candidates: [(line: Int, patient: RegisteredPatient)] = []
        for row in rows {
            switch row.result {
            case .failure(let problem):
                planned.append(PatientImportRow(line: row.line, patientID: nil, issuer: nil, outcome: .invalid(problem.description)))
            case .success(let patient):
                let key = Key(patientID: patient.patientID, issuer: patient.issuer)
                if let earlier = firstLine[key] {
                    planned.append(PatientImportRow(line: row.line, patientID: patient.patientID, issuer: patient.issuer,
                                                    outcome: .duplicate(ofLine: earlier)))
                } else {
                    firstLine[key] = row.line
                    candidates.append((row.line, patient))
                    planned.append(PatientImportRow(line: row.line, patientID: patient.patientID, issuer: patient.issuer, outcome: .valid))
                }
            }
        }
        if dryRun {
            let existing = try await registered(candidates.map { Key(patientID: $0.patient.patientID, issuer: $0.patient.issuer) },
                                                on: nil)
            return planned.map { row in
                guard row.outcome == .valid, let id = existing[Key(patientID: row.patientID ?? "", issuer: row.issuer ?? "")] else { return row }
                return PatientImportRow(line: row.line, patientID: row.patientID, issuer: row.issuer, outcome: .alreadyRegistered(id: id))
            }
        }
        return try await database.transaction { connection in
            var outcomes: [Int: PatientImportRow.Outcome] = [:]
            let audit = AuditLog(database)
            for (line, patient) in candidates {
                var id: Int64?
                for try await value in try await connection.query("""
                    INSERT INTO patients (patient_id, issuer, name, birth_date, sex, email)
                    VALUES (\(patient.patientID), \(patient.issuer), \(patient.name), \(patient.birthDate), \(patient.sex), \(patient.email))
                    ON CONFLICT (patient_id, issuer) DO NOTHING RETURNING id
                    """, logger: logger).decode(Int64.self) { id = value }
                if let id {
                    try await audit.append(eventType: "patient.registered", actor: actor, detail: ["patient": .integer(id)], on: connection)
                    outcomes[line] = .registered(id: id)
                }
            }
            let unregistered = candidates.filter { outcomes[$0.line] == nil }
            let existing = try await registered(unregistered.map { Key(patientID: $0.patient.patientID, issuer: $0.patient.issuer) },
                                                on: connection)
            for (line, patient) in unregistered {
                if let id = existing[Key(patientID: patient.patientID, issuer: patient.issuer)] { outcomes[line] = .alreadyRegistered(id: id) }
            }
            let result = planned.map { row in
                guard row.outcome == .valid, let outcome = outcomes[row.line] else { return row }
                return PatientImportRow(line: row.line, patientID: row.patientID, issuer: row.issuer, outcome: outcome)
            }
            var counts: [String: JSONValue] = ["rows": .integer(Int64(result.count))]
            for (name, count) in Self.counts(result) { counts[name] = .integer(Int64(count)) }
            try await audit.append(eventType: AuditEvent.patientImported, actor: actor, detail: counts, on: connection)
            return result
        }
    }

    /// How many rows had each outcome: registered, existing, duplicate, invalid (and, in a dry run, valid).
    public static func counts(_ rows: [PatientImportRow]) -> [String: Int] {
        var counts = ["registered": 0, "existing": 0, "duplicate": 0, "invalid": 0, "valid": 0]
        for row in rows {
            switch row.outcome {
            case .valid: counts["valid", default: 0] += 1
            case .registered: counts["registered", default: 0] += 1
            case .alreadyRegistered: counts["existing", default: 0] += 1
            case .duplicate: counts["duplicate", default: 0] += 1
            case .invalid: counts["invalid", default: 0] += 1
            }
        }
        return counts
    }

    struct Key: Hashable {
        let patientID: String
        let issuer: String
    }

    /// The ids of those of `keys` on record.
    private func registered(_ keys: [Key], on connection: PostgresConnection?) async throws -> [Key: Int64] {
        guard !keys.isEmpty else { return [:] }
        let query: PostgresQuery = """
            SELECT p.patient_id, p.issuer, p.id FROM patients p
            JOIN unnest(\(keys.map(\.patientID))::text[], \(keys.map(\.issuer))::text[]) AS k(patient_id, issuer)
              ON p.patient_id = k.patient_id AND p.issuer = k.issuer
            """
        let rows = if let connection { try await connection.query(query, logger: logger) } else { try await database.client.query(query, logger: logger) }
        var found: [Key: Int64] = [:]
        for try await (pid, issuer, id) in rows.decode((String, String, Int64).self) { found[Key(patientID: pid, issuer: issuer)] = id }
        return found
    }
}
