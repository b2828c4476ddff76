import Foundation
@testable import PortalCore
import PortalStore
import SessionReport
import XCTest

/// The result object the patient sees, from a worker's report: plain words, the receipt's lookup code, no patient data.
final class EdgeResultTests: XCTestCase {
    private func report(identity: IdentityResult) -> Report {
        var report = Report(source: .init(path: "upload", filesystem: "upload", label: "files"))
        report.lookupCode = "ABCDE-12345"
        var study = Study(studyInstanceUID: "1.2.3", patientName: "DOE^JANE", patientID: "OUTSIDE-7", birthDate: "19700101",
                          description: "CT CHEST", modalities: ["CT"], instances: 3, identity: identity, series: 1)
        study.studyDate = "20250102"
        report.studies = [study]
        let delivered: DeliveryState = identity == .mismatch ? .none : .stored
        report.files = [
            FileRecord(path: "files/DICOM/IM1", size: 10, kind: .dicom, verdict: .clean, studyInstanceUID: "1.2.3", delivery: delivered),
            FileRecord(path: "files/DICOM/IM2", size: 10, kind: .dicom, verdict: .disarmed,
                       findings: [Finding(.preambleExecutable, .high, "MZ at offset 0")], studyInstanceUID: "1.2.3", delivery: delivered),
            FileRecord(path: "files/DICOM/IM3", size: 10, kind: .dicom, verdict: .rejected,
                       findings: [Finding(.malwareEngineFailure, .high, "clamd timeout")], studyInstanceUID: "1.2.3"),
            FileRecord(path: "/files/VIEWER.EXE", size: 10, kind: .executable, verdict: .discarded),
            // Read for the disc's layout and never delivered: not something the patient's result lists as left out.
            FileRecord(path: "/files/DICOMDIR", size: 10, kind: .dicomdir, verdict: .discarded),
        ]
        report.totals.files = 5
        report.totals.dicom = 3
        report.totals.clean = 1
        report.totals.disarmed = 1
        report.totals.rejected = 1
        report.totals.discarded = 2
        report.totals.delivered = identity == .mismatch ? 0 : 2
        return report
    }

    private func source(_ report: Report?, state: String, problems: [String] = []) throws -> EdgeResultSource {
        let json = try report.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        return EdgeResultSource(batch: UUID(), edgeBatch: UUID(), state: state, reportJSON: json, problems: problems,
                                decidedAt: Date(timeIntervalSince1970: 1_767_225_600))
    }

    func testADeliveredBatchInPlainWords() throws {
        let result = EdgeResultBuilder.build(try source(report(identity: .match), state: "delivered"))
        XCTAssertEqual(result.receiptCode, "ABCDE-12345")
        XCTAssertTrue(result.reachedHospital)
        XCTAssertEqual(result.state, "delivered")
        XCTAssertEqual(result.decidedAt, "2026-01-01T00:00:00Z")
        XCTAssertEqual(result.studies, [EdgeResult.Study(
            description: "CT CHEST", date: "2025-01-02", modality: "CT", accepted: 2, cleaned: 1, refused: 1, heldBecause: nil,
            notes: ["A program hidden at the start of an image file was removed.",
                    "A virus scanner could not give an answer for a file, so the file was refused to be safe."])])
        XCTAssertEqual(result.leftOut, [EdgeResult.LeftOut(name: "VIEWER.EXE", why: "A program on the disc (such as a viewer) was left out.")])
        XCTAssertTrue(result.summary.hasPrefix("Your images reached the hospital: 2 images from 1 study"), result.summary)
        let json = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        for secret in ["DOE", "JANE", "OUTSIDE-7", "19700101", "1.2.3", "clamd", "MZ at", "preamble."] {
            XCTAssertFalse(json.contains(secret), "\(secret) in \(json)")
        }
        XCTAssertTrue(json.contains("\"heldBecause\":null"), json)
    }

    func testAStudyOfAnotherPatientIsHeldAndSaysWhy() throws {
        let result = EdgeResultBuilder.build(try source(report(identity: .mismatch), state: "held"))
        XCTAssertFalse(result.reachedHospital)
        XCTAssertEqual(result.studies.first?.heldBecause, "the images belong to another patient")
        XCTAssertEqual(result.studies.first?.accepted, 0)
        // Held images were not "cleaned" for the patient, and what was done to them does not apply: only the reason.
        XCTAssertEqual(result.studies.first?.cleaned, 0)
        XCTAssertEqual(result.studies.first?.notes, [])
        XCTAssertTrue(result.summary.contains("holding it because the images belong to another patient"), result.summary)
    }

    func testABatchCoreGaveUpOnSaysWhyWithoutAReport() throws {
        let result = EdgeResultBuilder.build(try source(nil, state: "failed", problems: ["the files did not arrive intact after 3 tries"]))
        XCTAssertFalse(result.reachedHospital)
        XCTAssertEqual(result.state, "failed")
        XCTAssertNotNil(LookupCodeShape.match(result.receiptCode), result.receiptCode)
        XCTAssertEqual(result.summary, "The hospital could not take this upload: the files did not arrive intact after 3 tries. "
                       + "Please send your images again, or call the hospital.")
        XCTAssertEqual(result.studies, [])
    }

    func testTheInvitationMailCarriesOnlyWhatThePatientNeeds() {
        let expires = Date(timeIntervalSince1970: 1_767_225_600 + 72 * 3600)
        let link = "https://portal.example/enrol.html#token=AbCdEfGhIjKlMnOpQrStUv"
        let mail = InvitationMail(name: "DOE^Jane", hospital: "St Example <Hospital>", link: link, expiresAt: expires)
        XCTAssertTrue(mail.text.hasPrefix("Dear Jane DOE,\n\n"), mail.text)
        XCTAssertEqual(InvitationMail.greetingName("DOE^JANE"), "Jane Doe", "a name in capitals is written as people write names")
        for expected in [link, "4 January 2026 at 00:00 UTC", "date of birth", "authenticator app", "passkey", "St Example <Hospital>"] {
            XCTAssertTrue(mail.text.contains(expected), "missing \(expected) in\n\(mail.text)")
        }
        XCTAssertTrue(mail.html.contains("<a href=\"\(link)\">"), mail.html)
        XCTAssertTrue(mail.html.contains("St Example &lt;Hospital&gt;"), mail.html)
        XCTAssertFalse(mail.html.contains("<Hospital>"), mail.html)
        XCTAssertFalse(mail.subject.contains("DOE") || mail.subject.contains("Jane"), "the subject names no patient: \(mail.subject)")
    }
}

/// "XXXXX-XXXXX" in Crockford base32, as the kiosk's receipt codes are.
enum LookupCodeShape {
    static func match(_ code: String) -> String? {
        code.wholeMatch(of: /[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}/).map { String($0.output) }
    }
}
