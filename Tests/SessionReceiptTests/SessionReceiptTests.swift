import Foundation
import SessionReceipt
import SessionReport
import XCTest

final class SessionReceiptTests: XCTestCase {
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    /// 2026-11-25 14:03:27 UTC.
    static let finished = Date(timeIntervalSince1970: 1_795_615_407)

    /// Two studies (one with a hostile name and an `&`), findings of several families, discarded
    /// programs, a refused file and every delivery state.
    func makeReport() -> Report {
        var report = Report(source: .init(path: "/dev/sr0", filesystem: "iso9660", label: "DISC"),
                            expectedPatient: .init(id: "P2", name: "DOE^JANE", birthDate: "19750505"))
        report.identityOverride = "Confirmed by phone with the sending clinic's \"records\" desk"
        report.destination = "archive:/var/lib/kiosk-agent/archive"
        report.media.findings = [Finding(.dicomdirUnlistedFile, .low, "IM9 not listed")]
        var hostile = Study(studyInstanceUID: "1.2.3", patientName: "<script>alert(1)</script>^Eve\u{1B}@", patientID: "P<1>",
                            birthDate: "19800102", description: "CT Chest & Abdomen " + String(repeating: "W", count: 60),
                            modalities: ["CT"], instances: 3, identity: .mismatch, series: 2)
        hostile.identityScore = 10
        let jane = Study(studyInstanceUID: "1.2.4", patientName: "DOE^JANE", patientID: "P2", birthDate: "19750505",
                         description: "", modalities: ["MR", "SR"], instances: 1, identity: .match, series: 1)
        report.studies = [hostile, jane]
        report.files = [
            FileRecord(path: "/DICOM/IM1", size: 10, kind: .dicom, verdict: .clean, studyInstanceUID: "1.2.3", delivery: .stored),
            FileRecord(path: "/DICOM/IM2", size: 10, kind: .dicom, verdict: .disarmed,
                       findings: [Finding(.preambleExecutable, .high, "PE in preamble"), Finding(.privateRemoved, .info, "3 elements"),
                                  Finding(.reconciliationCoerced, .info, "Patient ID set", element: "(0010,0020)")],
                       studyInstanceUID: "1.2.3", delivery: .stored),
            FileRecord(path: "/DICOM/IM3", size: 10, kind: .dicom, verdict: .disarmed,
                       findings: [Finding(.privateRemoved, .info, "1 element")], studyInstanceUID: "1.2.3", delivery: .spooled),
            FileRecord(path: "/DICOM/IM4", size: 10, kind: .dicom, verdict: .rejected,
                       findings: [Finding(.malwareClamAV, .critical, "Eicar-Test-Signature in pixel data")], studyInstanceUID: "1.2.4"),
            FileRecord(path: "/DICOM/IM5", size: 10, kind: .dicom, verdict: .clean, studyInstanceUID: "1.2.4", delivery: .failed),
            FileRecord(path: "/VIEWER/viewer.exe", size: 10, kind: .executable, verdict: .discarded,
                       findings: [Finding(.executableDiscarded, .medium, "PE32 program")]),
            FileRecord(path: "/VIEWER/<b>&lib.dll", size: 10, kind: .executable, verdict: .discarded,
                       findings: [Finding(.executableDiscarded, .medium, "PE32 library")]),
            FileRecord(path: "/AUTORUN.INF", size: 10, kind: .autorun, verdict: .discarded,
                       findings: [Finding(.autorunDiscarded, .medium, "autorun.inf")]),
        ]
        report.totals.files = 8; report.totals.dicom = 5; report.totals.clean = 2; report.totals.disarmed = 2
        report.totals.rejected = 1; report.totals.discarded = 3; report.totals.delivered = 2
        return report
    }

    func makeReceipt(_ report: Report? = nil, code: String = "7K3QX-M9P2D") -> Receipt {
        Receipt(report: report ?? makeReport(), sessionID: "s-0042", lookupCode: code, finished: Self.finished,
                station: "Front desk & 2", operatorName: "o'neill")
    }

    func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }

    // MARK: HTML

    func testHTMLIsEscapedAndSelfContained() throws {
        let code = try XCTUnwrap(LookupCode.normalize(LookupCode.generate()))
        let html = makeReceipt(code: code).html()
        let lower = html.lowercased()
        for forbidden in ["<script", "http://", "https://", "src=", "<link", "<iframe", "<img", "url("] {
            XCTAssertFalse(lower.contains(forbidden), forbidden)
        }
        XCTAssertFalse(html.contains("\u{1B}"))
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("<html lang=\"en\">"))
        XCTAssertTrue(html.contains("<meta charset=\"utf-8\">"))
        XCTAssertTrue(html.contains("@media print"))
        XCTAssertTrue(html.contains("Imaging disc import receipt"))
        XCTAssertTrue(html.contains(code))
        XCTAssertTrue(html.contains("Quote this code to find this import; it carries no patient information."))
        XCTAssertTrue(html.contains("2026-11-25 14:03 UTC"))
        XCTAssertTrue(html.contains("Front desk &amp; 2"))
        XCTAssertTrue(html.contains("o&#39;neill"))
        // The hostile name, escaped and shown as "FAMILY, Given".
        XCTAssertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;, Eve"))
        XCTAssertTrue(html.contains("P&lt;1&gt;"))
        XCTAssertTrue(html.contains("1980-01-02"))
        XCTAssertTrue(html.contains("CT Chest &amp; Abdomen"))
        XCTAssertTrue(html.contains("DOE, JANE"))
        XCTAssertTrue(html.contains("(no description)"))
        XCTAssertTrue(html.contains("did not match the patient given at the desk"))
        XCTAssertTrue(html.contains("matched the patient given at the desk"))
        XCTAssertTrue(html.contains(escaped(makeReport().identityOverride!)))
        for code: FindingCode in [.malwareClamAV, .preambleExecutable, .privateRemoved, .reconciliationCoerced, .executableDiscarded] {
            XCTAssertTrue(html.contains(escaped(FindingWording.explain(code))), code.rawValue)
        }
        XCTAssertTrue(html.contains("critical"))
        XCTAssertTrue(html.contains("Viewer programs left out: 2"))
        XCTAssertTrue(html.contains("/VIEWER/&lt;b&gt;&amp;lib.dll"))
        XCTAssertTrue(html.contains("Autorun files left out: 1"))
        XCTAssertTrue(html.contains("Refused image files: 1"))
        XCTAssertTrue(html.contains("kept aside for IT"))
        XCTAssertTrue(html.contains("archive:/var/lib/kiosk-agent/archive"))
        // Findings were not shown by their technical detail (which may name signatures or paths).
        XCTAssertFalse(html.contains("Eicar"))
    }

    // MARK: text

    func testTextFitsTheWidthAndIsASCII() {
        let receipt = makeReceipt()
        for width in [32, 42, 20] {
            let text = receipt.text(width: width)
            XCTAssertTrue(text.hasSuffix("\n"))
            let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
            for line in lines { XCTAssertLessThanOrEqual(line.count, width, "width \(width): \(line)") }
            XCTAssertTrue(text.unicodeScalars.allSatisfy { $0 == "\n" || (0x20...0x7E).contains($0.value) }, "width \(width)")
            let joined = lines.joined(separator: " ")
            XCTAssertTrue(joined.contains("7K3QX-M9P2D"))
            XCTAssertTrue(joined.contains("receipt"))
        }
        let text = receipt.text()
        XCTAssertTrue(text.contains("Imaging disc import receipt"))
        XCTAssertTrue(text.contains("2026-11-25 14:03 UTC"))
        XCTAssertTrue(text.contains("<script>alert(1)</script>, Eve"))
        XCTAssertTrue(text.contains("Viewer programs left out: 2"))
        XCTAssertTrue(text.contains("Refused image files: 1"))
        XCTAssertFalse(text.contains("/VIEWER/"), "the text form gives counts only")
    }

    func testMismatchWithoutOverrideIsHeld() {
        var report = makeReport()
        report.identityOverride = nil
        let receipt = makeReceipt(report)
        XCTAssertTrue(receipt.html().contains("held for review"))
        XCTAssertFalse(receipt.html().contains("override"))
        XCTAssertTrue(receipt.text().contains("held for review"))
    }

    func testTextFoldsToASCII() {
        var report = makeReport()
        report.studies[1].patientName = "MÜLLER^Zoë"
        report.studies[1].description = "Schädel – nativ"
        let text = makeReceipt(report).text()
        XCTAssertTrue(text.contains("MULLER, Zoe"))
        XCTAssertTrue(text.contains("Schadel - nativ"))
    }

    func testEmptyReport() {
        var report = Report(source: .init(path: "/dev/sr0", filesystem: "unknown", label: ""))
        report.media.findings = [Finding(.mediaUnreadable, .high, "no known filesystem")]
        let receipt = Receipt(report: report, sessionID: "s-1", lookupCode: "7K3QX-M9P2D", finished: Self.finished,
                              station: "Desk", operatorName: nil)
        let html = receipt.html(), text = receipt.text()
        XCTAssertTrue(html.contains("No DICOM images were found"))
        XCTAssertTrue(text.contains("No DICOM images were found"))
        XCTAssertTrue(html.contains(escaped(FindingWording.explain(.mediaUnreadable))))
        XCTAssertFalse(text.contains("Operator"))
        XCTAssertTrue(text.contains("none (nothing was sent)"))
    }

    // MARK: lookup code

    func testLookupCodeRoundTrip() {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let code = LookupCode.generate()
            XCTAssertEqual(code.count, 11)
            XCTAssertEqual(Array(code)[5], "-")
            XCTAssertTrue(code.replacingOccurrences(of: "-", with: "").allSatisfy { Self.alphabet.contains($0) }, code)
            XCTAssertEqual(LookupCode.normalize(code), code)
            XCTAssertEqual(LookupCode.normalize(code.lowercased()), code)
            XCTAssertEqual(LookupCode.normalize(code.replacingOccurrences(of: "-", with: "")), code)
            seen.insert(code)
        }
        XCTAssertEqual(seen.count, 1000)
    }

    func testLookupCodeAcceptsVariantsAndAliases() throws {
        // A valid code holding 0 and 1, found through the public API: only one check character fits.
        let body = "01ABC0D1E"
        let valid = Self.alphabet.compactMap { LookupCode.normalize(body + String($0)) }
        XCTAssertEqual(valid.count, 1)
        let code = try XCTUnwrap(valid.first)
        let check = try XCTUnwrap(code.last)
        XCTAssertEqual(LookupCode.normalize("oiabc-OdLe\(check)"), code)
        XCTAssertEqual(LookupCode.normalize("OLABCOD1E\(check)"), code)
        XCTAssertEqual(LookupCode.normalize("  01abc 0d1e\(check.lowercased())  "), code)
        XCTAssertEqual(LookupCode.normalize("01-AB--C0D-1E\(check)"), code)
        for bad in ["", "-----", "01ABC0D1E", code + "0", "01ABC0D1EU", "01ABC0D1E*", "01ABC_0D1E\(check)", "01ABC0D1É\(check)"] {
            XCTAssertNil(LookupCode.normalize(bad), bad)
        }
    }

    func testLookupCodeCatchesSubstitutionsAndTranspositions() {
        // A fixed sample (its one valid check character found through the public API) and random ones.
        let fixed = Self.alphabet.compactMap { LookupCode.normalize("7K3QXM9P2" + String($0)) }
        XCTAssertEqual(fixed.count, 1)
        for code in fixed + (0..<20).map({ _ in LookupCode.generate() }) {
            let characters = Array(code.replacingOccurrences(of: "-", with: ""))
            for index in characters.indices {
                for replacement in Self.alphabet where replacement != characters[index] {
                    var changed = characters
                    changed[index] = replacement
                    XCTAssertNil(LookupCode.normalize(String(changed)), "\(code): \(index) → \(replacement)")
                }
            }
            for index in characters.indices.dropLast() where characters[index] != characters[index + 1] {
                var swapped = characters
                swapped.swapAt(index, index + 1)
                XCTAssertNil(LookupCode.normalize(String(swapped)), "\(code): swap \(index)")
            }
        }
    }

    // MARK: wording

    func testEveryFamilyHasItsOwnWords() {
        let families: [FindingCode.Family] = [.preamble, .structure, .pixel, .malware, .private, .document, .dicomdir, .media, .identity,
                                              .pacs, .executable, .autorun, .reconciliation, .delivery, .content]
        for family in families {
            for code in ["\(family).a-code-added-later", "\(family).\(family)"].map(FindingCode.init(rawValue:)) {
                let sentence = FindingWording.explain(code)
                XCTAssertNotEqual(sentence, FindingWording.fallback, code.rawValue)
                XCTAssertTrue(sentence.hasSuffix("."), code.rawValue)
            }
        }
        XCTAssertEqual(FindingWording.explain(FindingCode(rawValue: "nonsense.code")), FindingWording.fallback)
        XCTAssertEqual(FindingWording.explain(FindingCode(rawValue: "")), FindingWording.fallback)
        XCTAssertNotEqual(FindingWording.explain(.preambleExecutable), FindingWording.explain(.preambleNonzero))
        XCTAssertTrue(FindingWording.explain(.malwareClamAV).contains("Malware"))
    }

    // MARK: routine clean-up

    /// Vendor-private blocks, padding, icons and overlays by policy and a TIFF preamble are routine;
    /// the same codes for something else, and anything hostile, are not.
    func testRoutineRemovalsAreToldFromRemovalsForCause() {
        XCTAssertEqual(Finding(.privateRemoved, .info, "").routineRemoval, .privateData)
        XCTAssertEqual(Finding(.privateRemoved, .low, "File Meta private information removed", element: "(0002,0102)").routineRemoval, .privateData)
        XCTAssertEqual(Finding(.structureTrailingData, .medium, "", element: "(FFFC,FFFC)").routineRemoval, .padding)
        XCTAssertEqual(Finding(.structureTrailingData, .medium, "", element: "(0008,1115)[0](FFFC,FFFC)").routineRemoval, .padding)
        XCTAssertNil(Finding(.structureTrailingData, .high, "12 byte(s) after the end of the data set were removed").routineRemoval)
        XCTAssertEqual(Finding(.structureRemoved, .info, "", element: "(0088,0200)").routineRemoval, .icon)
        XCTAssertEqual(Finding(.structureRemoved, .info, "", element: "(6002,3000)").routineRemoval, .overlay)
        XCTAssertNil(Finding(.structureRemoved, .high, "", element: "(6002,3000)").routineRemoval, "a policy that refuses rejects the file")
        XCTAssertNil(Finding(.structureRemoved, .info, "", element: "(6001,3000)").routineRemoval, "odd groups are private")
        XCTAssertEqual(Finding(.preambleTIFF, .info, "").routineRemoval, .tiffPreamble)
        XCTAssertNil(Finding(.preambleExecutable, .critical, "").routineRemoval)

        let routine = [Finding(.privateRemoved, .info, "3 element(s)"), Finding(.structureTrailingData, .medium, "padding", element: "(FFFC,FFFC)")]
        var report = Report(source: .init(path: "/dev/sr0", filesystem: "iso9660", label: "DISC"))
        report.files = [
            FileRecord(path: "/IM1", size: 1, kind: .dicom, verdict: .disarmed, findings: routine, delivery: .stored),
            FileRecord(path: "/IM2", size: 1, kind: .dicom, verdict: .disarmed,
                       findings: routine + [Finding(.deliveryAlreadyArchived, .info, "")], delivery: .stored),
            FileRecord(path: "/IM3", size: 1, kind: .dicom, verdict: .disarmed,
                       findings: routine + [Finding(.structureTrailingData, .high, "12 byte(s) after the end of the data set were removed")],
                       delivery: .stored),
            FileRecord(path: "/IM4", size: 1, kind: .dicom, verdict: .clean, findings: [Finding(.privateKept, .info, "")], delivery: .stored),
        ]
        report.totals.files = 4; report.totals.dicom = 4; report.totals.disarmed = 3; report.totals.clean = 1; report.totals.delivered = 4
        var counts = Report.CleanupCounts()
        counts.routine = 2; counts.removed = [.privateData, .padding]; counts.forCause = 1
        XCTAssertEqual(report.cleanupCounts, counts)
        XCTAssertEqual(counts.routineSentence, "2 images: vendor-private data and padding removed as usual (not a threat)")

        let receipt = makeReceipt(report)
        for text in [receipt.text(width: 200), receipt.html()] {
            XCTAssertTrue(text.contains("2 images: vendor-private data and padding removed as usual (not a threat)."), text)
            XCTAssertTrue(text.contains("Empty padding at the end of an image file was removed, as on every import (routine, not a threat)."), text)
            XCTAssertTrue(text.contains("Extra data after the end of an image file was removed."), "the bytes after the data set are not routine")
            XCTAssertTrue(text.contains("routine, not a threat"), text)
        }
        let text = receipt.text(width: 200)
        XCTAssertTrue(text.contains("Extra data after the end of an image file was removed. (1x, serious)"), text)
        XCTAssertTrue(text.contains("(3x, routine, not a threat)"), text)
        // Worst first, routine last.
        let found = text.components(separatedBy: "WHAT WAS FOUND")[1]
        XCTAssertLessThan(try XCTUnwrap(found.range(of: "Extra data after")).lowerBound, try XCTUnwrap(found.range(of: "Empty padding")).lowerBound)
    }
}
