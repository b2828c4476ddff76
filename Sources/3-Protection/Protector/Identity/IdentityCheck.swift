import Foundation
import DICOMCore
import SessionReport

/// Compares each instance's patient with the patient at the desk (Patient ID, Patient's Name,
/// Birth Date). A field the desk did not give is not compared.
///
/// Score, out of the fields given: Patient ID 50, Birth Date 25, Name 25 (less for weaker name
/// matches, see `NameMatch`). Any field that differs makes the result a mismatch, whatever the
/// score: the score says how sure a match is, it never outvotes a wrong birth date or ID.
public struct IdentityCheck: Sendable {
    public let expected: Report.ExpectedPatient

    public init(expected: Report.ExpectedPatient) {
        self.expected = expected
    }

    public struct Decision: Sendable, Equatable {
        public let result: IdentityResult
        /// 0–100: how much of what the desk gave matches.
        public let score: Int
        /// One plain reason per field, for staff.
        public let reasons: [String]
        public let findings: [Finding]
    }

    public func evaluate(_ summary: InstanceSummary) -> Decision {
        var earned = 0, possible = 0
        var reasons: [String] = []
        var differs = false
        if let id = expected.id?.trimmingSpaces, !id.isEmpty {
            possible += 50
            if id == summary.patientID.trimmingSpaces {
                earned += 50; reasons.append("Patient ID matches")
            } else {
                differs = true; reasons.append(summary.patientID.trimmingSpaces.isEmpty ? "Patient ID missing on the media" : "Patient ID differs")
            }
        }
        if let birth = expected.birthDate.map(IdentityCheck.digits), !birth.isEmpty {
            possible += 25
            if birth == IdentityCheck.digits(summary.birthDate) {
                earned += 25; reasons.append("birth date matches")
            } else {
                differs = true; reasons.append(summary.birthDate.isEmpty ? "birth date missing on the media" : "birth date differs")
            }
        }
        if let name = expected.name?.trimmingSpaces, !name.isEmpty {
            possible += 25
            let match = NameMatch.compare(desk: name, media: summary.patientName)
            earned += match.points
            reasons.append(match.reason)
            if match == .none { differs = true }
        }
        let score = possible == 0 ? 0 : earned * 100 / possible
        guard !differs else {
            return Decision(result: .mismatch, score: score, reasons: reasons, findings: [Finding(.identityMismatch, .high,
                "does not belong to the expected patient (score \(score)/100: " + reasons.joined(separator: ", ") + "); held for review")])
        }
        let weak = reasons.filter { $0.hasPrefix("name matches ") }
        return Decision(result: .match, score: score, reasons: reasons,
                        findings: weak.isEmpty ? [] : [Finding(.identityMatch, .info, "matches the expected patient (score \(score)/100: "
                                                                + reasons.joined(separator: ", ") + ")")])
    }

    /// `1970-01-02`, `1970.01.02` (ACR-NEMA) and `19700102` are the same date.
    static func digits(_ date: String) -> String { date.filter(\.isASCIIDigit) }
}

/// Patients on one medium (THREATS: sometimes another patient's images): instances grouped by
/// Patient ID and normalised name and birth date.
public enum PatientGrouping {
    public static func finding(_ summaries: [InstanceSummary]) -> Finding? {
        // Every slice carries the same three values: each distinct spelling is normalised once.
        var spellings: [[String]: Int] = [:]
        for summary in summaries { spellings[[summary.patientID, summary.patientName, summary.birthDate], default: 0] += 1 }
        var counts: [String: Int] = [:]
        for (spelling, count) in spellings {
            let key = [spelling[0].trimmingSpaces, PersonName(spelling[1]).normalizedForMatching,
                       IdentityCheck.digits(spelling[2])].joined(separator: "|")
            counts[key, default: 0] += count
        }
        guard counts.count > 1 else { return nil }
        let sizes = counts.values.sorted(by: >).map(String.init).joined(separator: ", ")
        return Finding(.identityMultiplePatients, .medium,
                       "the media holds images of \(counts.count) different patients (\(sizes) instance(s) each); check each study's patient")
    }
}

extension String {
    var trimmingSpaces: String {
        trimmingCharacters(in: CharacterSet(charactersIn: " \u{0}"))
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
