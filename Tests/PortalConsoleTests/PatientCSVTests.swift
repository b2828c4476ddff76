import Foundation
import PortalStore
import XCTest

/// The registry's CSV format as the console's import (and `patient import`) reads it: RFC 4180 quoting, the header in
/// any order, each row's own outcome, and the bounds.
final class PatientCSVTests: XCTestCase {
    func parse(_ text: String, limits: PatientCSV.Limits = PatientCSV.Limits(), issuer: String = "HOSP") throws -> [PatientCSV.Row] {
        try PatientCSV.parse(Array(text.utf8), defaultIssuer: issuer, limits: limits)
    }

    func patient(_ row: PatientCSV.Row, file: StaticString = #filePath, line: UInt = #line) -> RegisteredPatient? {
        guard case .success(let patient) = row.result else { XCTFail("line \(row.line): \(row.result)", file: file, line: line); return nil }
        return patient
    }

    func problem(_ row: PatientCSV.Row) -> String? {
        guard case .failure(let error) = row.result else { return nil }
        return error.description
    }

    func testColumnsInAnyOrderQuotesCommasNewlinesBOMAndCRLF() throws {
        let text = "\u{FEFF}email,Birth_Date,name,patient_id,sex\r\n"
            + "\"jane@example.org\",19800215,\"Doe^Jane\",H1,f\r\n"
            + ",19551231,\"O'Brien^Mary, Jr\",H2,\r\n"
            + ",19700101,\"Say \"\"Hi\"\"^Ann\",H3,\r\n"
            + ",19700101,\"Two\nLines^Bob\",H4,\r\n"
            + "\r\n"
            + ",19700101,Last^Row,H5,M"
        let rows = try parse(text)
        XCTAssertEqual(rows.map(\.line), [2, 3, 4, 5, 8], "a quoted line break counts as a line; the blank line is skipped")
        XCTAssertEqual(patient(rows[0]), RegisteredPatient(patientID: "H1", issuer: "HOSP", name: "Doe^Jane", birthDate: "19800215", sex: "F",
                                                           email: "jane@example.org"))
        XCTAssertEqual(patient(rows[1])?.name, "O'Brien^Mary, Jr")
        XCTAssertNil(patient(rows[1])?.email, "an empty value is no value")
        XCTAssertEqual(patient(rows[2])?.name, "Say \"Hi\"^Ann")
        // A name with a line break is no DICOM name: that row alone is refused.
        XCTAssertEqual(problem(rows[3]), "the name must be DICOM form Family^Given (a family name, at most 5 components, no backslash or =)")
        XCTAssertEqual(patient(rows[4])?.patientID, "H5")
    }

    func testTheIssuerColumnOverridesTheDefault() throws {
        let rows = try parse("patient_id,issuer,name,birth_date\nA1,OTHER,Doe^J,19800101\nA2,,Doe^K,19800101\n")
        XCTAssertEqual(patient(rows[0])?.issuer, "OTHER")
        XCTAssertEqual(patient(rows[1])?.issuer, "HOSP")
    }

    func testEachBadRowHasItsOwnProblem() throws {
        let rows = try parse("""
            patient_id,name,birth_date,sex,email
            H1,Doe^Jane,19800230,F,
            H2,Doe^Jim,1980-01-01,M,
            H3,Doe^Joe,19800101,X,
            H4,Doe^Ann,19800101,F,not-an-address
            H5,Doe^Bea,19800101
            ,Doe^Cy,19800101,,
            H7,"Doe^Di"x,19800101,,
            H8,Fine^Row,19800101,,
            """)
        XCTAssertEqual(rows.map(problem), [
            "the birth date must be a real date written YYYYMMDD",
            "the birth date must be a real date written YYYYMMDD",
            "sex must be M, F or O",
            "'not-an-address' is not an e-mail address",
            "3 fields where the header names 5",
            "the Patient ID is empty",
            "value 2 has text after its closing quote",
            nil,
        ])
    }

    func testTheHeaderMustNameTheRequiredColumnsOnce() {
        XCTAssertThrowsError(try parse("patient_id,name\nH1,Doe^J\n")) { XCTAssertEqual($0 as? PatientCSV.FormatError, .missingColumn("birth_date")) }
        XCTAssertThrowsError(try parse("patient_id,name,birth_date,phone\n")) { XCTAssertEqual($0 as? PatientCSV.FormatError, .unknownColumn("phone")) }
        XCTAssertThrowsError(try parse("patient_id,name,birth_date,name\n")) { XCTAssertEqual($0 as? PatientCSV.FormatError, .duplicateColumn("name")) }
        XCTAssertThrowsError(try parse("")) { XCTAssertEqual($0 as? PatientCSV.FormatError, .empty) }
        XCTAssertThrowsError(try parse("\u{FEFF}\r\n\r\n")) { XCTAssertEqual($0 as? PatientCSV.FormatError, .empty) }
        XCTAssertEqual(try parse("patient_id,name,birth_date\n").count, 0, "a header alone is an empty import")
    }

    func testAnUnclosedQuoteRefusesTheFileNamingWhereItStarts() {
        XCTAssertThrowsError(try parse("patient_id,name,birth_date\nH1,Doe^J,19800101\nH2,\"Doe^K,19800101\nH3,Doe^L,19800101\n")) {
            XCTAssertEqual($0 as? PatientCSV.FormatError, .unclosedQuote(line: 3))
            XCTAssertEqual(String(describing: $0), "line 3: a quoted value is not closed (a \" is missing), so the rest of the file cannot be read")
        }
    }

    func testBounds() throws {
        let limits = PatientCSV.Limits(maxBytes: 200, maxRows: 3, maxFieldBytes: 16)
        let header = "patient_id,name,birth_date\n"
        XCTAssertEqual(try parse(header + String(repeating: "H1,Doe^J,19800101\n", count: 3), limits: limits).count, 3)
        XCTAssertThrowsError(try parse(header + String(repeating: "H1,Doe^J,19800101\n", count: 4), limits: limits)) {
            XCTAssertEqual($0 as? PatientCSV.FormatError, .tooManyRows(limit: 3))
        }
        XCTAssertThrowsError(try parse(header + String(repeating: "x", count: 200), limits: limits)) {
            XCTAssertEqual($0 as? PatientCSV.FormatError, .tooLarge(limit: 200))
        }
        // A long value is its row's problem, and is not kept beyond the bound.
        let rows = try parse(header + "H1,\"\(String(repeating: "A", count: 40))\",19800101\nH2,Doe^J,19800101\n", limits: limits)
        XCTAssertEqual(problem(rows[0]), "value 2 is longer than 16 bytes")
        XCTAssertNotNil(patient(rows[1]))
    }

    func testBytesThatAreNotUTF8SpoilOnlyTheirRow() throws {
        var bytes = Array("patient_id,name,birth_date\nH1,Doe^".utf8) + [0xC3, 0x28] + Array(",19800101\nH2,Doe^J,19800101\n".utf8)
        let rows = try PatientCSV.parse(bytes, defaultIssuer: "")
        XCTAssertEqual(problem(rows[0]), "value 2 is not UTF-8 text")
        XCTAssertNotNil(patient(rows[1]))
        bytes = Array("patient_id,name,birth_date\r\nH1,\"\",19800101\r\n\"\"\r\n".utf8)
        let quotedEmpty = try PatientCSV.parse(bytes, defaultIssuer: "")
        XCTAssertEqual(quotedEmpty.map(problem), ["the name is empty", "1 fields where the header names 3"],
                       "a quoted empty value is a record, not a blank line")
    }
}
