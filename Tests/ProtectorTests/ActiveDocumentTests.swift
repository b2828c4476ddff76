import DICOMCore
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import Protector

/// Active content in encapsulated documents (THREATS.md 4): a PDF that runs JavaScript when opened,
/// launches programs or carries files, a CDA whose XML runs scripts or fetches from outside. Never
/// delivered: rejected, or left out by policy (`active_documents = "drop"`).
final class ActiveDocumentTests: XCTestCase {
    typealias F = ThreatFixtures
    static let pdfClass = "1.2.840.10008.5.1.4.1.1.104.1"
    static let cdaClass = "1.2.840.10008.5.1.4.1.1.104.2"

    private func document(_ content: [UInt8], sopClass: String = pdfClass, mime: String = "application/pdf") throws -> [UInt8] {
        try F.crafted { file in
            file.dataSet.remove(Tag.pixelData)
            file.dataSet.set(F.element(Tag.sopClassUID, .UI, Array(sopClass.utf8) + (sopClass.utf8.count & 1 == 1 ? [0] : [])))
            file.dataSet.set(F.element(Tag(0x0042, 0x0011), .OB, content.count & 1 == 1 ? content + [0] : content))
            file.dataSet.set(F.element(Tag(0x0042, 0x0012), .LO, F.text(mime)))
        }
    }

    /// A well-formed PDF from its object lines ("N 0 obj … endobj"): a cross-reference table
    /// with each object's offset, so real tools (qpdf) read it without repairing.
    static func pdf(_ body: String) -> [UInt8] {
        var bytes = Array("%PDF-1.4\n".utf8)
        var offsets: [Int] = []
        for object in body.split(separator: "\n", omittingEmptySubsequences: false) where !object.isEmpty {
            if object.first?.isNumber == true && object.contains(" obj") { offsets.append(bytes.count) }
            bytes += Array((object + "\n").utf8)
        }
        let table = bytes.count
        bytes += Array("xref\n0 \(offsets.count + 1)\n0000000000 65535 f \n".utf8)
        for offset in offsets { bytes += Array((String(repeating: "0", count: 10 - String(offset).count) + "\(offset) 00000 n \n").utf8) }
        bytes += Array("trailer << /Size \(offsets.count + 1) /Root 1 0 R >>\nstartxref\n\(table)\n%%EOF\n".utf8)
        return bytes
    }

    static let javaScript = pdf("""
        1 0 obj << /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >> endobj
        2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
        3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >> endobj
        4 0 obj << /S /JavaScript /JS (app.alert\\('inert'\\);) >> endobj
        """)

    private func assertActive(_ outcome: F.Outcome, naming: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(outcome.verdict, .rejected, "\(outcome.protection.findings)", file: file, line: line)
        XCTAssertTrue(outcome.delivered.isEmpty, file: file, line: line)
        let finding = outcome.protection.findings.first { $0.code == .documentActiveContent }
        XCTAssertTrue(finding?.detail.contains(naming) == true, "\(naming) not in \(outcome.protection.findings)", file: file, line: line)
    }

    func testPDFActionsAndScriptsAreRejected() throws {
        assertActive(try F.protect(try document(Self.javaScript)), naming: "/JavaScript")
        assertActive(try F.protect(try document(Self.javaScript)), naming: "/OpenAction")
        // Name escapes spell the same name: /J#61vaScript is /JavaScript (ISO 32000-1 §7.3.5).
        let escaped = Self.pdf("1 0 obj << /Type /Catalog /Pages 2 0 R /OpenAction << /S /J#61vaScript /J#53 (x) >> >> endobj")
        assertActive(try F.protect(try document(escaped)), naming: "/JavaScript")
        for (name, body) in [("/Launch", "<< /S /Launch /F (cmd.exe) >>"), ("/EmbeddedFile", "<< /Type /EmbeddedFile /Length 0 >>"),
                             ("/AA", "<< /Type /Page /AA << /O 5 0 R >> >>"), ("/SubmitForm", "<< /S /SubmitForm /F (http://x) >>"),
                             ("/RichMedia", "<< /Subtype /RichMedia >>"), ("/XFA", "<< /AcroForm << /XFA 7 0 R >> >>"),
                             ("/GoToR", "<< /S /GoToR /F (other.pdf) >>"), ("/ImportData", "<< /S /ImportData /F (x.fdf) >>")] {
            assertActive(try F.protect(try document(Self.pdf("1 0 obj \(body) endobj"))), naming: name)
        }
    }

    /// Dictionaries compressed into an object stream by a real tool (qpdf): found after inflating.
    func testScriptsInsideFlateObjectStreamsAreFound() throws {
        let qpdf = try TestSupport.tool("qpdf")
        let dir = try TestSupport.TemporaryDirectory("active-pdf")
        try Data(Self.javaScript).write(to: URL(fileURLWithPath: dir.path("in.pdf")))
        let result = try TestSupport.run(qpdf, ["--object-streams=generate", "--compress-streams=y", dir.path("in.pdf"), dir.path("out.pdf")])
        XCTAssertEqual(result.status, 0, result.stderrText)
        let compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.path("out.pdf"))))
        XCTAssertFalse(compressed.contains(Array("JavaScript".utf8)), "the names are only inside the compressed object stream")
        XCTAssertTrue(compressed.contains(Array("/ObjStm".utf8)))
        assertActive(try F.protect(try document(compressed)), naming: "/JavaScript")
    }

    /// Names in strings and a destination to open at are not active; the document is delivered.
    func testInertPDFsAreDelivered() throws {
        let inert = Self.pdf("""
            1 0 obj << /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >> endobj
            2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
            3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R >> endobj
            4 0 obj << /Length 44 >>
            stream
            BT /F1 12 Tf (About /JavaScript /JS) Tj ET
            endstream
            endobj
            """)
        let outcome = try F.protect(try document(inert))
        XCTAssertNotEqual(outcome.verdict, .rejected, "\(outcome.protection.findings)")
        XCTAssertFalse(outcome.codes.contains("document.active-content"), "\(outcome.protection.findings)")
        XCTAssertTrue(outcome.delivered.contains(inert))
    }

    /// `drop`: left out of delivery and not quarantined (verdict discarded); a document smuggled
    /// into an image is removed and the image delivered.
    func testDropPolicyAndSmuggledDocuments() throws {
        var dropping = F.policy()
        dropping.activeDocuments = .drop
        let dropped = try F.protect(try document(Self.javaScript), with: F.protector(dropping))
        XCTAssertEqual(dropped.verdict, .discarded, "\(dropped.protection.findings)")
        XCTAssertNil(dropped.protection.rebuilt)
        XCTAssertTrue(dropped.delivered.isEmpty)
        XCTAssertTrue(dropped.protection.findings.contains { $0.code == .documentActiveContent && $0.detail.contains("left out") })

        let smuggled = try F.crafted { $0.dataSet.set(F.element(Tag(0x0042, 0x0011), .OB, Self.javaScript + (Self.javaScript.count & 1 == 1 ? [0] : []))) }
        let outcome = try F.protect(smuggled)
        XCTAssertEqual(outcome.verdict, .disarmed, "\(outcome.protection.findings)")
        XCTAssertTrue(outcome.codes.contains("document.active-content"))
        XCTAssertFalse(outcome.delivered.contains(Array("app.alert".utf8)))
    }

    func testCDAScriptsAndExternalReferencesAreRejected() throws {
        let head = "<?xml version=\"1.0\"?>\n"
        let cases: [(String, String)] = [
            ("<script>", "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><text><script>alert(1)</script></text></ClinicalDocument>"),
            ("onload", "<ClinicalDocument xmlns=\"urn:hl7-org:v3\" onLoad=\"x()\"><title>t</title></ClinicalDocument>"),
            ("javascript:", "<ClinicalDocument><text><linkHtml href=\"java&#x09;script:alert(1)\">x</linkHtml></text></ClinicalDocument>"),
            ("http://evil.example/x.png", "<ClinicalDocument xmlns:xlink=\"http://www.w3.org/1999/xlink\"><a xlink:href=\"http://evil.example/x.png\"/></ClinicalDocument>"),
            ("external DTD", "<!DOCTYPE ClinicalDocument SYSTEM \"http://evil.example/cda.dtd\"><ClinicalDocument/>"),
            ("entity", "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><ClinicalDocument>&x;</ClinicalDocument>"),
            ("stylesheet", "<?xml-stylesheet type=\"text/xsl\" href=\"https://evil.example/cda.xsl\"?><ClinicalDocument/>"),
            ("XInclude", "<ClinicalDocument xmlns:xi=\"http://www.w3.org/2001/XInclude\"><xi:include href=\"secret.xml\"/></ClinicalDocument>"),
        ]
        for (naming, xml) in cases {
            assertActive(try F.protect(try document(Array((head + xml).utf8), sopClass: Self.cdaClass, mime: "text/XML")), naming: naming)
        }
        // UTF-16 is read as text too.
        var sixteen: [UInt8] = [0xFF, 0xFE]
        for unit in "<ClinicalDocument><script>x</script></ClinicalDocument>".utf16 { sixteen += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        assertActive(try F.protect(try document(sixteen, sopClass: Self.cdaClass, mime: "text/XML")), naming: "<script>")
    }

    func testInertCDAIsDelivered() throws {
        let cda = Array("""
            <?xml version="1.0" encoding="UTF-8"?>
            <?xml-stylesheet type="text/xsl" href="CDA.xsl"?>
            <ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
              <title>Report</title><!-- <script> in a comment is not markup -->
              <text>Findings: onset=acute, see <linkHtml href="#ref1">note</linkHtml>.<renderMultiMedia referencedObject="MM1"/></text>
              <observationMedia ID="MM1"><value mediaType="image/png"><reference value="lefthand.png"/></value></observationMedia>
            </ClinicalDocument>
            """.utf8)
        let outcome = try F.protect(try document(cda, sopClass: Self.cdaClass, mime: "text/XML"))
        XCTAssertNotEqual(outcome.verdict, .rejected, "\(outcome.protection.findings)")
        XCTAssertFalse(outcome.codes.contains("document.active-content"), "\(outcome.protection.findings)")
    }
}
