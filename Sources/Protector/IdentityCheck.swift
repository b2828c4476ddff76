import Foundation
import DICOMCore
import SessionReport

/// Compares each instance's patient with the patient at the desk (Patient ID, Patient's Name,
/// Birth Date). Names are compared in a normalised form (case, accents, transliteration,
/// component order within family/given); a field the operator did not give is not compared.
public struct IdentityCheck: Sendable {
    public let expected: Report.ExpectedPatient
    private let expectedName: String?

    public init(expected: Report.ExpectedPatient) {
        self.expected = expected
        expectedName = expected.name.map { PersonName($0).normalizedForMatching }
    }

    public struct Decision: Sendable, Equatable {
        public let result: IdentityResult
        public let findings: [Finding]
    }

    public func evaluate(_ summary: InstanceSummary) -> Decision {
        var reasons: [String] = []
        if let id = expected.id?.trimmingSpaces, !id.isEmpty, id != summary.patientID.trimmingSpaces {
            reasons.append("Patient ID differs")
        }
        if let expectedName, !expectedName.isEmpty, expectedName != PersonName(summary.patientName).normalizedForMatching {
            reasons.append("Patient's Name differs")
        }
        if let birth = expected.birthDate?.trimmingSpaces, !birth.isEmpty, birth != summary.birthDate.trimmingSpaces {
            reasons.append("Birth Date differs")
        }
        guard reasons.isEmpty else {
            return Decision(result: .mismatch, findings: [Finding("identity.mismatch", .high,
                "does not belong to the expected patient: " + reasons.joined(separator: ", ") + "; held for review")])
        }
        return Decision(result: .match, findings: [])
    }
}

extension String {
    var trimmingSpaces: String {
        trimmingCharacters(in: CharacterSet(charactersIn: " \u{0}"))
    }
}
