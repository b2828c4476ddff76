import Foundation
import Logging
import PostgresNIO

/// A patient the hospital registered: who uploads are compared with.
public struct RegisteredPatient: Sendable, Equatable, Codable {
    /// The hospital's Patient ID and its issuer ("" when the hospital names no issuer).
    public var patientID: String
    public var issuer: String
    /// DICOM PN form, `Family^Given`.
    public var name: String
    /// `YYYYMMDD`.
    public var birthDate: String
    public var sex: String?
    public var email: String?

    public init(patientID: String, issuer: String, name: String, birthDate: String, sex: String? = nil, email: String? = nil) {
        self.patientID = patientID; self.issuer = issuer; self.name = name; self.birthDate = birthDate
        self.sex = sex; self.email = email
    }

    /// Checks what the database would refuse less clearly, and what DICOM could not carry.
    public func validate() throws(PatientRecordError) {
        guard !patientID.isEmpty, patientID.utf8.count <= 64, !patientID.contains("\\"),
              patientID.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw .invalid("the Patient ID must be 1-64 characters without control characters or backslash")
        }
        guard issuer.utf8.count <= 64, !issuer.contains("\\") else { throw .invalid("the issuer must be at most 64 characters without backslash") }
        let components = name.split(separator: "^", omittingEmptySubsequences: false)
        guard !name.isEmpty, name.utf8.count <= 320, components.count <= 5, !(components.first ?? "").isEmpty,
              name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F && $0 != "\\" && $0 != "=" }) else {
            throw .invalid("the name must be DICOM form Family^Given (a family name, at most 5 components, no backslash or =)")
        }
        guard BirthDate.isValid(birthDate) else { throw .invalid("the birth date must be a real date written YYYYMMDD") }
        if let sex, !["M", "F", "O"].contains(sex) { throw .invalid("sex must be M, F or O") }
        if let email {
            let parts = email.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), email.utf8.count <= 254,
                  !email.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," }) else {
                throw .invalid("'\(email)' is not an e-mail address")
            }
        }
    }
}

public enum PatientRecordError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    case alreadyRegistered(patientID: String, issuer: String)

    public var description: String {
        switch self {
        case .invalid(let why): why
        case .alreadyRegistered(let id, let issuer):
            "patient \(id)\(issuer.isEmpty ? "" : " (issuer \(issuer))") is already registered"
        }
    }
}

enum BirthDate {
    static func isValid(_ text: String) -> Bool {
        guard text.utf8.count == 8, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let year = Int(text.prefix(4)), let month = Int(text.dropFirst(4).prefix(2)), let day = Int(text.suffix(2)),
              year >= 1850, (1...12).contains(month) else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return (1...days).contains(day)
    }
}

/// The `patients` table.
public struct PatientRegistry: Sendable {
    let database: PortalDatabase

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// Registers a patient and audits it; returns the row id.
    @discardableResult
    public func add(_ patient: RegisteredPatient, actor: String) async throws -> Int64 {
        try patient.validate()
        return try await database.transaction { connection in
            let rows = try await connection.query("""
                INSERT INTO patients (patient_id, issuer, name, birth_date, sex, email)
                VALUES (\(patient.patientID), \(patient.issuer), \(patient.name), \(patient.birthDate), \(patient.sex), \(patient.email))
                ON CONFLICT (patient_id, issuer) DO NOTHING
                RETURNING id
                """, logger: database.logger)
            var id: Int64?
            for try await value in rows.decode(Int64.self) { id = value }
            guard let id else { throw PatientRecordError.alreadyRegistered(patientID: patient.patientID, issuer: patient.issuer) }
            // The audit record names the row, not the patient: the table is for compliance staff, not a copy of the registry.
            try await AuditLog(database).append(eventType: "patient.registered", actor: actor, detail: ["patient": .integer(id)], on: connection)
            return id
        }
    }

    /// Changes the address invitations go to (and the patient's sign-in name at the edge); audited without the address.
    public func setEmail(id: Int64, email: String, actor: String) async throws {
        var patient = try await get(id: id)
        patient?.email = email
        guard let patient else { throw InvitationError.unknownPatient(id) }
        try patient.validate()
        try await database.transaction { connection in
            var changed = false
            for try await _ in try await connection.query("""
                UPDATE patients SET email = \(email), updated_at = now() WHERE id = \(id) AND email IS DISTINCT FROM \(email) RETURNING id
                """, logger: database.logger) { changed = true }
            guard changed else { return }
            try await AuditLog(database).append(eventType: AuditEvent.patientEmailChanged, actor: actor, detail: ["patient": .integer(id)],
                                                on: connection)
        }
    }

    public func find(patientID: String, issuer: String) async throws -> (id: Int64, patient: RegisteredPatient)? {
        let rows = try await database.client.query("""
            SELECT id, patient_id, issuer, name, birth_date, sex, email FROM patients WHERE patient_id = \(patientID) AND issuer = \(issuer)
            """, logger: database.logger)
        for try await (id, pid, issuer, name, birth, sex, email) in rows.decode((Int64, String, String, String, String, String?, String?).self) {
            return (id, RegisteredPatient(patientID: pid, issuer: issuer, name: name, birthDate: birth, sex: sex, email: email))
        }
        return nil
    }

    public func get(id: Int64) async throws -> RegisteredPatient? {
        let rows = try await database.client.query("""
            SELECT patient_id, issuer, name, birth_date, sex, email FROM patients WHERE id = \(id)
            """, logger: database.logger)
        for try await (pid, issuer, name, birth, sex, email) in rows.decode((String, String, String, String, String?, String?).self) {
            return RegisteredPatient(patientID: pid, issuer: issuer, name: name, birthDate: birth, sex: sex, email: email)
        }
        return nil
    }

    /// Every patient in Patient ID order, at most `limit`.
    public func list(limit: Int = 10_000) async throws -> [RegisteredPatient] {
        let rows = try await database.client.query("""
            SELECT patient_id, issuer, name, birth_date, sex, email FROM patients ORDER BY patient_id, issuer LIMIT \(limit)
            """, logger: database.logger)
        var patients: [RegisteredPatient] = []
        for try await (pid, issuer, name, birth, sex, email) in rows.decode((String, String, String, String, String?, String?).self) {
            patients.append(RegisteredPatient(patientID: pid, issuer: issuer, name: name, birthDate: birth, sex: sex, email: email))
        }
        return patients
    }
}
