import DICOMCore
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import Protector

/// What the PACS accepts (issue 3, part 7): other SOP classes are not delivered; native images in
/// other transfer syntaxes are converted losslessly; compressed images are never recompressed.
final class CompatibilityTests: XCTestCase {
    typealias F = ThreatFixtures

    private func protector(sopClasses: Set<String>? = nil, syntaxes: Set<String>?) -> Protector {
        var policy = F.policy()
        policy.compatibility = Compatibility(sopClasses: sopClasses, transferSyntaxes: syntaxes)
        return F.protector(policy)
    }

    func testNativeImagesAreConvertedAndCompressedOnesRefused() throws {
        let explicitOnly = protector(syntaxes: [TransferSyntax.explicitVRLittleEndian.uid, "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"])
        for name in ["MR_small_bigendian.dcm", "MR_small_implicit.dcm", "image_dfl.dcm"] {
            let original = try F.original(name)
            let outcome = try F.protect(original, with: explicitOnly)
            XCTAssertNotEqual(outcome.verdict, .rejected, "\(name): \(outcome.protection.findings)")
            XCTAssertTrue(outcome.codes.contains("pacs.converted") || name == "image_dfl.dcm", "\(name): \(outcome.codes)")
            let rebuilt = try DICOMReader.read(InMemoryByteSource(outcome.delivered))
            XCTAssertEqual(rebuilt.transferSyntax.uid, TransferSyntax.explicitVRLittleEndian.uid, name)
            XCTAssertEqual(outcome.protection.summary?.transferSyntaxUID, TransferSyntax.explicitVRLittleEndian.uid)
        }
        // Lossless for pixels: the big endian MR's samples equal the little endian MR's.
        let big = try F.protect(try F.original("MR_small_bigendian.dcm"), with: explicitOnly)
        let little = try DICOMReader.read(InMemoryByteSource(try F.original("MR_small.dcm")))
        XCTAssertEqual(try DICOMReader.read(InMemoryByteSource(big.delivered)).dataSet[Tag.pixelData]?.inlineBytes,
                       little.dataSet[Tag.pixelData]?.inlineBytes)

        let j2k = try F.protect(try F.original("JPEG2000.dcm"), with: explicitOnly)
        XCTAssertEqual(j2k.verdict, .rejected)
        XCTAssertTrue(j2k.codes.contains("pacs.unsupported-transfer-syntax"), "\(j2k.codes)")
        // Accepted as it is: untouched.
        let baseline = try F.protect(try F.original("JPEG-lossy.dcm"), with: explicitOnly)
        XCTAssertNotEqual(baseline.verdict, .rejected, "\(baseline.protection.findings)")
        XCTAssertFalse(baseline.codes.contains { $0.hasPrefix("pacs.") })
    }

    func testSOPClassesThePACSDoesNotTakeAreNotDelivered() throws {
        let ctOnly = protector(sopClasses: ["1.2.840.10008.5.1.4.1.1.2"], syntaxes: nil)
        XCTAssertNotEqual(try F.protect(try F.original("CT_small.dcm"), with: ctOnly).verdict, .rejected)
        let mr = try F.protect(try F.original("MR_small.dcm"), with: ctOnly)
        XCTAssertEqual(mr.verdict, .rejected)
        XCTAssertTrue(mr.codes.contains("pacs.unsupported-sop-class"), "\(mr.codes)")
    }
}
