import Foundation

/// The registry's CSV import format (RFC 4180): a header row naming the columns in any order — `patient_id`, `name`,
/// `birth_date`, and optionally `issuer`, `sex`, `email` — then one patient per record. Quoted fields may hold commas,
/// doubled quotes and line breaks; CRLF or LF ends a record; a UTF-8 byte order mark is skipped. Bounded: the input's
/// size, the number of records and each field's length are checked as the bytes are read, never after allocating what
/// the input claims. A problem with one record is that record's outcome; only a problem with the file as a whole
/// (too large, too many rows, the header, an unclosed quote) refuses the file.
public enum PatientCSV {
    public struct Limits: Sendable {
        public var maxBytes: Int
        public var maxRows: Int
        public var maxFieldBytes: Int

        public init(maxBytes: Int = 2 << 20, maxRows: Int = 5_000, maxFieldBytes: Int = 1_024) {
            self.maxBytes = maxBytes; self.maxRows = maxRows; self.maxFieldBytes = maxFieldBytes
        }
    }

    /// One record after the header: the line it starts on and the patient it names, or why it names none.
    public struct Row: Sendable, Equatable {
        public let line: Int
        public let result: Result<RegisteredPatient, PatientRecordError>
    }

    public enum FormatError: Error, Equatable, CustomStringConvertible {
        case tooLarge(limit: Int)
        case tooManyRows(limit: Int)
        case empty
        case unknownColumn(String)
        case missingColumn(String)
        case duplicateColumn(String)
        case badHeader(String)
        case unclosedQuote(line: Int)

        public var description: String {
            switch self {
            case .tooLarge(let limit): "the file is larger than \(limit / 1024) KiB: split it into smaller files"
            case .tooManyRows(let limit): "the file has more than \(limit) patients: split it into smaller files"
            case .empty: "the file is empty: the first line must name the columns (patient_id, name, birth_date, and optionally issuer, sex, email)"
            case .unknownColumn(let name): "line 1: unknown column '\(name)' (known: \(known.sorted().joined(separator: ", ")))"
            case .missingColumn(let name): "line 1: the column '\(name)' is missing"
            case .duplicateColumn(let name): "line 1: the column '\(name)' is named twice"
            case .badHeader(let why): "line 1: \(why)"
            case .unclosedQuote(let line): "line \(line): a quoted value is not closed (a \" is missing), so the rest of the file cannot be read"
            }
        }
    }

    public static let required = ["patient_id", "name", "birth_date"]
    public static let known = Set(required + ["issuer", "sex", "email"])

    /// The rows of `data`; `defaultIssuer` stands in where the file has no issuer column or leaves it empty.
    public static func parse(_ data: some Collection<UInt8>, defaultIssuer: String, limits: Limits = Limits()) throws(FormatError) -> [Row] {
        guard data.count <= limits.maxBytes else { throw .tooLarge(limit: limits.maxBytes) }
        // The header and the rows, one more than allowed so "too many" is seen without reading further.
        var records = try records(data, limits: limits, maxRecords: limits.maxRows + 2)
        guard !records.isEmpty else { throw .empty }
        let header = records.removeFirst()
        if let problem = header.problem { throw .badHeader(problem) }
        let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for column in columns where !known.contains(column) { throw .unknownColumn(column) }
        for column in required where !columns.contains(column) { throw .missingColumn(column) }
        var seen: Set<String> = []
        for column in columns where !seen.insert(column).inserted { throw .duplicateColumn(column) }
        guard records.count <= limits.maxRows else { throw .tooManyRows(limit: limits.maxRows) }
        return records.map { record in
            if let problem = record.problem { return Row(line: record.line, result: .failure(.invalid(problem))) }
            guard record.fields.count == columns.count else {
                return Row(line: record.line, result: .failure(.invalid("\(record.fields.count) fields where the header names \(columns.count)")))
            }
            var values: [String: String] = [:]
            for (column, field) in zip(columns, record.fields) {
                let value = field.trimmingCharacters(in: .whitespaces)
                if !value.isEmpty { values[column] = value }
            }
            guard let patientID = values["patient_id"] else { return Row(line: record.line, result: .failure(.invalid("the Patient ID is empty"))) }
            guard let name = values["name"] else { return Row(line: record.line, result: .failure(.invalid("the name is empty"))) }
            guard let birthDate = values["birth_date"] else { return Row(line: record.line, result: .failure(.invalid("the birth date is empty"))) }
            let patient = RegisteredPatient(patientID: patientID, issuer: values["issuer"] ?? defaultIssuer, name: name, birthDate: birthDate,
                                            sex: values["sex"]?.uppercased(), email: values["email"])
            do throws(PatientRecordError) { try patient.validate() } catch { return Row(line: record.line, result: .failure(error)) }
            return Row(line: record.line, result: .success(patient))
        }
    }

    /// A record as read: its fields, the line it starts on, and what is wrong with it as text (a field too long, not
    /// UTF-8, text after a closing quote).
    struct Record {
        var line: Int
        var fields: [String] = []
        var problem: String?
    }

    /// RFC 4180 records; blank lines are skipped. At most `maxRecords` are returned (the caller sees one more than it
    /// allows); each field is at most `limits.maxFieldBytes` bytes (a longer one makes its record's problem).
    static func records(_ data: some Collection<UInt8>, limits: Limits, maxRecords: Int) throws(FormatError) -> [Record] {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        var records: [Record] = []
        var record = Record(line: 1)
        var field: [UInt8] = []
        var quoted = false
        // The field's closing quote was read; only a comma or the record's end may follow.
        var closed = false
        var wasQuoted = false
        // Some field of the record was quoted: `""` alone is a record with one empty value, not a blank line.
        var wasQuotedRecord = false
        var line = 1
        var index = data.startIndex
        if data.starts(with: [0xEF, 0xBB, 0xBF]) { index = data.index(index, offsetBy: 3) }

        func endField() {
            if field.count > limits.maxFieldBytes {
                record.problem = record.problem ?? "value \(record.fields.count + 1) is longer than \(limits.maxFieldBytes) bytes"
                record.fields.append("")
            } else if let text = String(validating: field, as: UTF8.self) {
                record.fields.append(text)
            } else {
                record.problem = record.problem ?? "value \(record.fields.count + 1) is not UTF-8 text"
                record.fields.append("")
            }
            field.removeAll(keepingCapacity: true)
            closed = false
            wasQuoted = false
        }
        func endRecord() {
            endField()
            let blank = record.fields.count == 1 && record.fields[0].allSatisfy(\.isWhitespace) && !wasQuotedRecord && record.problem == nil
            if !blank { records.append(record) }
            record = Record(line: line)
            wasQuotedRecord = false
        }
        func append(_ byte: UInt8) {
            // Past the limit the bytes are counted, not kept: one byte over is enough to report the field.
            if field.count <= limits.maxFieldBytes { field.append(byte) }
        }

        while index != data.endIndex, records.count < maxRecords {
            let byte = data[index]
            index = data.index(after: index)
            if quoted {
                if byte == quote {
                    if index != data.endIndex, data[index] == quote {
                        append(quote)
                        index = data.index(after: index)
                    } else {
                        quoted = false
                        closed = true
                    }
                } else {
                    if byte == lf { line += 1 }
                    append(byte)
                }
                continue
            }
            switch byte {
            case quote where field.isEmpty && !closed && !wasQuoted:
                quoted = true
                wasQuoted = true
                wasQuotedRecord = true
            case comma:
                endField()
            case cr, lf:
                if byte == cr, index != data.endIndex, data[index] == lf { index = data.index(after: index) }
                line += 1
                endRecord()
            default:
                if closed {
                    record.problem = record.problem ?? "value \(record.fields.count + 1) has text after its closing quote"
                    closed = false
                }
                append(byte)
            }
        }
        if quoted { throw .unclosedQuote(line: record.line) }
        if records.count < maxRecords, !field.isEmpty || !record.fields.isEmpty || wasQuoted { endRecord() }
        return records
    }
}
