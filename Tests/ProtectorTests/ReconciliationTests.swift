import DICOMCore
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import Protector

/// IHE Import Reconciliation (issue 3, part 6), checked by reading the delivered files with pydicom.
final class ReconciliationTests: XCTestCase {
    typealias F = ThreatFixtures

    private func reconciling(_ reconciliation: Reconciliation) -> Protector {
        var policy = F.policy()
        policy.reconciliation = reconciliation
        return F.protector(policy)
    }

    func testIdentifiersAreCoercedAndTheOriginalsKept() throws {
        let protector = reconciling(Reconciliation(patientID: "LOCAL-0042", issuerOfPatientID: "HOSPITAL-A",
                                                   patientName: "Dupont^Zoé", accessionNumber: "ACC77"))
        let outcome = try F.protect(try F.original("CT_small.dcm"), with: protector)
        XCTAssertNotEqual(outcome.verdict, .rejected, "\(outcome.protection.findings)")
        XCTAssertEqual(outcome.codes.filter { $0 == "reconciliation.coerced" }.count, 4)
        XCTAssertEqual(outcome.protection.summary?.patientID, "LOCAL-0042")
        XCTAssertEqual(outcome.protection.mediaSummary?.patientID, "1CT1")
        let dir = try TestSupport.TemporaryDirectory("reconciled")
        try Data(outcome.delivered).write(to: dir.url.appendingPathComponent("out.dcm"))
        let check = try TestSupport.python("""
            import sys, pydicom
            ds = pydicom.dcmread(sys.argv[1])
            assert ds.PatientID == "LOCAL-0042" and ds.IssuerOfPatientID == "HOSPITAL-A", ds.PatientID
            assert str(ds.PatientName) == "Dupont^Zoé", str(ds.PatientName)
            assert ds.AccessionNumber == "ACC77"
            other = ds.OtherPatientIDsSequence[-1]
            assert other.PatientID == "1CT1" and other.TypeOfPatientID == "TEXT", other
            original = ds.OriginalAttributesSequence[-1]
            assert original.ReasonForTheAttributeModification == "COERCE"
            assert original.ModifyingSystem.startswith("kiosk-agent")
            modified = original.ModifiedAttributesSequence[0]
            assert modified.PatientID == "1CT1" and str(modified.PatientName) == "CompressedSamples^CT1", modified
            assert ds.StudyInstanceUID == "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
            print("ok")
            """, [dir.path("out.dcm")])
        XCTAssertEqual(check.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), "ok", check.stderrText)
        XCTAssertEqual(try TestSupport.run(try TestSupport.tool("dcmdump"), ["-q", dir.path("out.dcm")]).status, 0)
    }

    /// Found by the patient portal's browser test: the hospital's ID stayed beside the other facility's issuer.
    func testAnotherFacilitysIssuerDoesNotStayBesideTheHospitalsID() throws {
        let foreign = try F.crafted("CT_small.dcm") { $0.dataSet.set(Reconciliation.text(Tag.issuerOfPatientID, .LO, "ELSEWHERE GENERAL")) }
        let outcome = try F.protect(foreign, with: reconciling(Reconciliation(patientID: "LOCAL-0042")))
        XCTAssertNotEqual(outcome.verdict, .rejected, "\(outcome.protection.findings)")
        let delivered = try DICOMReader.read(InMemoryByteSource(outcome.delivered)).dataSet
        XCTAssertEqual(delivered.string(Tag.patientID), "LOCAL-0042")
        XCTAssertEqual(delivered.string(Tag.issuerOfPatientID) ?? "", "")
        let other = try XCTUnwrap(delivered[Tag.otherPatientIDsSequence]?.items?.last?.dataSet)
        XCTAssertEqual(other.string(Tag.patientID), "1CT1")
        XCTAssertEqual(other.string(Tag.issuerOfPatientID), "ELSEWHERE GENERAL")
        let modified = try XCTUnwrap(delivered[Tag.originalAttributesSequence]?.items?.last?.dataSet[Tag.modifiedAttributesSequence]?.items?.first?.dataSet)
        XCTAssertEqual(modified.string(Tag.issuerOfPatientID), "ELSEWHERE GENERAL")
    }

    func testAValueTheCharacterSetCannotCarryIsRejectedNotMangled() throws {
        // CT_small declares ISO_IR 100 (Latin-1): "Ł" is not in it.
        let outcome = try F.protect(try F.original("CT_small.dcm"), with: reconciling(Reconciliation(patientID: "L1", patientName: "Łukasz^Nowak")))
        XCTAssertEqual(outcome.verdict, .rejected)
        XCTAssertTrue(outcome.codes.contains("reconciliation.unencodable"), "\(outcome.codes)")
        // A file that declares nothing and holds only ASCII becomes UTF-8.
        let plain = try F.crafted("MR_small.dcm") { $0.dataSet.remove(Tag.specificCharacterSet) }
        let utf8 = try F.protect(plain, with: reconciling(Reconciliation(patientID: "L1", patientName: "Łukasz^Nowak")))
        XCTAssertNotEqual(utf8.verdict, .rejected, "\(utf8.protection.findings)")
        let rebuilt = try DICOMReader.read(InMemoryByteSource(utf8.delivered))
        XCTAssertEqual(rebuilt.dataSet.string(Tag.specificCharacterSet), "ISO_IR 192")
        XCTAssertEqual(InstanceSummary(rebuilt).patientName, "Łukasz^Nowak")
    }

    func testInvalidAndMissingUIDsAreReplacedConsistently() throws {
        let bad = "1.2.3.4a"   // a letter: not a UID any system can store (zero-led ones are kept: UIDRepairTests)
        func study(_ sop: String) throws -> [UInt8] {
            try F.crafted { file in
                file.dataSet.set(UIDRepair.uid(Tag.studyInstanceUID, bad))
                file.dataSet.set(UIDRepair.uid(Tag.sopInstanceUID, sop))
                var reference = DataSet()
                reference.set(UIDRepair.uid(Tag(0x0008, 0x1150), "1.2.840.10008.3.1.2.3.1"))
                reference.set(UIDRepair.uid(Tag(0x0008, 0x1155), bad))
                file.dataSet.set(DataElement(tag: Tag(0x0008, 0x1110), vr: .SQ, value: .sequence([Item(dataSet: reference, offset: 0)])))
            }
        }
        let protector = reconciling(Reconciliation())
        let first = try F.protect(try study("1.2.3.4.1"), with: protector)
        let second = try F.protect(try study("1.2.3.4.2"), with: protector)
        XCTAssertEqual(first.verdict, .disarmed, "\(first.protection.findings)")
        XCTAssertTrue(first.codes.contains("reconciliation.uid-replaced"))
        let a = try DICOMReader.read(InMemoryByteSource(first.delivered)).dataSet
        let b = try DICOMReader.read(InMemoryByteSource(second.delivered)).dataSet
        let newStudy = try XCTUnwrap(a.string(Tag.studyInstanceUID))
        XCTAssertTrue(UID.isValid(newStudy) && newStudy.hasPrefix("2.25."), newStudy)
        XCTAssertEqual(b.string(Tag.studyInstanceUID), newStudy, "one study stays one study")
        XCTAssertEqual(a[Tag(0x0008, 0x1110)]?.items?.first?.dataSet.string(Tag(0x0008, 0x1155)), newStudy, "references follow")
        XCTAssertEqual(a.string(Tag.sopInstanceUID), "1.2.3.4.1", "valid UIDs never change")
        let original = try XCTUnwrap(a[Tag(0x0400, 0x0561)]?.items?.last?.dataSet)
        XCTAssertEqual(original.string(Tag(0x0400, 0x0565)), "CORRECT")

        // pydicom-data's JPEG-LS images lack Study/Series Instance UIDs: delivered once repaired.
        let url = try TestSupport.pydicomDataFiles().appendingPathComponent("JPEGLSNearLossless_08.dcm")
        if FileManager.default.fileExists(atPath: url.path) {
            let repaired = try F.protect([UInt8](try Data(contentsOf: url)), with: protector)
            XCTAssertNotEqual(repaired.verdict, .rejected, "\(repaired.protection.findings)")
            XCTAssertTrue(UID.isValid(repaired.protection.summary?.studyInstanceUID ?? ""))
        }
    }
}
