import DICOMCore
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import Protector

/// The identity check (issue 3, part 5): names compared as staff would, with a score and reasons.
final class IdentityTests: XCTestCase {
    private func name(_ file: String) throws -> String {
        let bytes = [UInt8](try Data(contentsOf: try TestSupport.pydicomCharsetFiles().appendingPathComponent(file)))
        return InstanceSummary(try DICOMReader.read(InMemoryByteSource(bytes))).patientName
    }

    func testNamesDecodedFromEveryCharacterSetMatchTheirLatinAndNativeForms() throws {
        let cases: [(String, String, NameMatch)] = [
            ("chrH31.dcm", "YAMADA^TAROU", .exact), ("chrH31.dcm", "山田^太郎", .exact), ("chrH31.dcm", "Tarou Yamada", .exact),
            ("chrH31.dcm", "Yamada^T", .initial), ("chrH32.dcm", "Yamada^Tarou", .exact), ("chrJapMulti.dcm", "yamada^tarou", .exact),
            ("chrI2.dcm", "HONG^GILDONG", .exact), ("chrI2.dcm", "홍^길동", .exact), ("chrGerm.dcm", "ANEAS^RUDIGER", .exact),
            ("chrFren.dcm", "BUC, JEROME", .exact), ("chrFren.dcm", "Jerome^Buc", .swapped), ("chrX1.dcm", "王^小東", .exact),
            ("chrX1.dcm", "Wang^Xiaodong", .exact), ("chrX2.dcm", "WANG^XIAODONG", .exact), ("chrGerm.dcm", "ANEAS^RUPERT", .none),
        ]
        for (file, desk, expected) in cases {
            let media = try name(file)
            XCTAssertEqual(NameMatch.compare(desk: desk, media: media), expected, "\(desk) against \(file) (\(media))")
        }
    }

    func testNameRules() {
        XCTAssertEqual(NameMatch.compare(desk: "Doe^John", media: "DOE^JOHN^PAUL"), .middleNameDiffers)
        XCTAssertEqual(NameMatch.compare(desk: "Doe^John Paul", media: "DOE^JOHN^PAUL"), .exact)
        XCTAssertEqual(NameMatch.compare(desk: "John Doe", media: "DOE^JOHN^^DR"), .exact)
        XCTAssertEqual(NameMatch.compare(desk: "John Paul Doe", media: "DOE^JOHN"), .none, "a word the media lacks")
        XCTAssertEqual(NameMatch.compare(desk: "O'Brien^Seán", media: "OBRIEN^SEAN"), .exact)
        XCTAssertEqual(NameMatch.compare(desk: "Doe^Jane", media: "DOE^JOHN"), .none)
        XCTAssertEqual(NameMatch.compare(desk: "Doe^J", media: "DOE^JOHN"), .initial)
        XCTAssertEqual(NameMatch.compare(desk: "Doe^John", media: ""), .none)
    }

    func testScoresAndReasons() {
        var summary = InstanceSummary()
        summary.patientID = "12345 "; summary.patientName = "DOE^JOHN"; summary.birthDate = "19700102"
        let all = IdentityCheck(expected: .init(id: "12345", name: "Doe^John", birthDate: "19700102")).evaluate(summary)
        XCTAssertEqual(all.result, .match)
        XCTAssertEqual(all.score, 100)
        XCTAssertEqual(all.reasons, ["Patient ID matches", "birth date matches", "name matches"])
        let initial = IdentityCheck(expected: .init(id: "12345", name: "Doe^J", birthDate: "1970-01-02")).evaluate(summary)
        XCTAssertEqual(initial.result, .match)
        XCTAssertEqual(initial.score, 90)
        XCTAssertEqual(initial.findings.map(\.code), [.identityMatch])
        let wrongBirth = IdentityCheck(expected: .init(id: "12345", name: "Doe^John", birthDate: "19700103")).evaluate(summary)
        XCTAssertEqual(wrongBirth.result, .mismatch, "a strong score never outvotes a wrong birth date")
        XCTAssertEqual(wrongBirth.score, 75)
        XCTAssertTrue(wrongBirth.findings.first?.detail.contains("birth date differs") == true)
        XCTAssertEqual(IdentityCheck(expected: .init(id: "54321", name: nil, birthDate: nil)).evaluate(summary).result, .mismatch)
    }

    func testSeveralPatientsOnOneMediumAreReported() {
        var a = InstanceSummary(), b = InstanceSummary()
        a.patientID = "1"; a.patientName = "Doe^John"
        b.patientID = "1"; b.patientName = "DOE^JOHN "
        XCTAssertNil(PatientGrouping.finding([a, b, a]), "one patient written two ways")
        var c = InstanceSummary()
        c.patientID = "2"; c.patientName = "Roe^Richard"
        XCTAssertEqual(PatientGrouping.finding([a, b, c])?.code, .identityMultiplePatients)
        XCTAssertTrue(PatientGrouping.finding([a, b, c])?.detail.contains("2 different patients (2, 1 instance(s) each)") == true)
    }
}
