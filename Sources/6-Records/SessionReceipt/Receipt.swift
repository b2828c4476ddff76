import Foundation
import SessionReport

/// The receipt handed to the patient after an import: what was on the disc, what was kept, left out
/// or refused, and where it went. It may name the patient (it is theirs); the lookup code does not.
/// Both forms are built from the same `Facts` so they never disagree.
public struct Receipt: Sendable {
    public let report: Report
    public let sessionID: String
    public let lookupCode: String
    public let finished: Date
    public let station: String
    public let operatorName: String?

    public init(report: Report, sessionID: String, lookupCode: String, finished: Date, station: String, operatorName: String?) {
        self.report = report; self.sessionID = sessionID; self.lookupCode = lookupCode
        self.finished = finished; self.station = station; self.operatorName = operatorName
    }

    static let title = "Imaging disc import receipt"
    static let codeNote = "Quote this code to find this import; it carries no patient information."
    static let noImages = "No DICOM images were found on this disc."
    static let footer = "Produced by kiosk-agent. Staff can find the full technical report of this import with the lookup code."
    static let refusedNote = "They are kept aside for IT and were not sent."
}

// MARK: - what both forms show

extension Receipt {
    struct Patient {
        var name: String, id: String, birthDate: String
        var studies: [Study]
    }

    struct FindingGroup {
        var code: String, sentence: String, count: Int, severity: Severity
        /// Routine clean-up (vendor-private data, padding…): shown as such, never as a severity.
        var routine = false

        var importance: String { routine ? "routine, not a threat" : Receipt.severity(severity) }
    }

    struct DiscardGroup {
        var label: String, count: Int, examples: [String]
    }

    /// Everything the receipt says, worked out once.
    struct Facts {
        var patients: [Patient] = []
        var findings: [FindingGroup] = []
        var discarded: [DiscardGroup] = []
        var refused = 0
        var stored = 0, spooled = 0, failed = 0
        /// "52 images: vendor-private data removed as usual (not a threat)".
        var routine: String?
    }

    var facts: Facts {
        var facts = Facts()
        // Patients in the order the studies list them; one entry per distinct patient.
        for study in report.studies {
            let name = Receipt.display(study.patientName), birth = Receipt.date(study.birthDate)
            if let index = facts.patients.firstIndex(where: { $0.name == name && $0.id == study.patientID && $0.birthDate == birth }) {
                facts.patients[index].studies.append(study)
            } else {
                facts.patients.append(Patient(name: name, id: study.patientID, birthDate: birth, studies: [study]))
            }
        }
        var byCode: [String: FindingGroup] = [:]
        for finding in report.media.findings + report.files.flatMap(\.findings) {
            let routine = finding.routineRemoval
            let key = routine.map { "routine." + $0.rawValue } ?? finding.code.rawValue
            var group = byCode[key] ?? FindingGroup(code: finding.code.rawValue, sentence: FindingWording.explain(finding),
                                                   count: 0, severity: finding.severity, routine: routine != nil)
            group.count += 1
            group.severity = max(group.severity, finding.severity)
            byCode[key] = group
        }
        // Worst first, so what matters is at the top of a long receipt; routine clean-up last.
        facts.findings = byCode.values.sorted {
            ($0.routine ? 0 : 1, $0.severity, $0.count, $1.code) > ($1.routine ? 0 : 1, $1.severity, $1.count, $0.code)
        }
        facts.routine = report.cleanupCounts.routineSentence.map { $0 + "." }
        let kinds: [(String, (FileKind) -> Bool)] = [
            ("Viewer programs", { $0 == .executable }), ("Autorun files", { $0 == .autorun }), ("Web pages", { $0 == .web }),
            ("Documents", { $0 == .document }), ("Other files", { ![.executable, .autorun, .web, .document].contains($0) }),
        ]
        let discarded = report.files.filter { $0.verdict == .discarded }
        for (label, matches) in kinds {
            let files = discarded.filter { matches($0.kind) }
            if !files.isEmpty { facts.discarded.append(DiscardGroup(label: label, count: files.count, examples: files.prefix(10).map(\.path))) }
        }
        facts.refused = report.files.filter { $0.verdict == .rejected }.count
        for file in report.files {
            switch file.delivery {
            case .stored: facts.stored += 1
            case .spooled: facts.spooled += 1
            case .failed: facts.failed += 1
            case .none: break
            }
        }
        return facts
    }

    /// The counts from `report.totals`, labelled for people.
    var totals: [(String, Int)] {
        let t = report.totals
        return [("Files read", t.files), ("DICOM image files", t.dicom), ("Clean", t.clean), ("Cleaned (disarmed)", t.disarmed),
                ("Refused (rejected)", t.rejected), ("Left out (discarded)", t.discarded), ("Delivered", t.delivered)]
    }

    /// The expected patient as one line, nil when none was given at the desk.
    var expectedPatient: String? {
        guard let expected = report.expectedPatient else { return nil }
        let parts = [expected.name.map(Receipt.display), expected.id.map { "ID \($0)" }, expected.birthDate.map { "born \(Receipt.date($0))" }]
        let line = parts.compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "; ")
        return line.isEmpty ? nil : line
    }

    func identity(_ study: Study) -> String {
        switch study.identity {
        case .match: "matched the patient given at the desk"
        case .mismatch where report.identityOverride != nil: "did not match the patient given at the desk; imported on staff override"
        case .mismatch: "did not match the patient given at the desk; held for review, not sent"
        case .unverified: report.expectedPatient == nil ? "not verified (no patient was given at the desk)" : "not verified"
        }
    }

    static func studyLine(_ study: Study) -> String {
        let description = study.description.trimmingCharacters(in: .whitespaces).isEmpty ? "(no description)" : study.description
        let modalities = study.modalities.isEmpty ? "modality unknown" : study.modalities.joined(separator: ", ")
        return "\(description): \(modalities); \(count(study.series, "series", "series")), \(count(study.instances, "image", "images"))"
    }

    static func severity(_ severity: Severity) -> String {
        switch severity {
        case .info: "for information"
        case .low: "minor"
        case .medium: "moderate"
        case .high: "serious"
        case .critical: "critical"
        }
    }

    static func count(_ n: Int, _ one: String, _ many: String) -> String { "\(n) \(n == 1 ? one : many)" }

    /// "FAMILY^Given^Middle" as "FAMILY, Given Middle" (the alphabetic group only), as the
    /// operator screen shows it.
    static func display(_ name: String) -> String {
        let parts = name.split(separator: "=").first.map { $0.split(separator: "^", omittingEmptySubsequences: false) } ?? []
        guard parts.count > 1 else { return name }
        return "\(parts[0]), \(parts[1...].filter { !$0.isEmpty }.joined(separator: " "))"
    }

    /// DICOM "YYYYMMDD" as "YYYY-MM-DD"; anything else as given.
    static func date(_ yyyymmdd: String) -> String {
        guard yyyymmdd.count == 8, yyyymmdd.allSatisfy(\.isASCII) else { return yyyymmdd.isEmpty ? "unknown" : yyyymmdd }
        let d = Array(yyyymmdd)
        return "\(String(d[0..<4]))-\(String(d[4..<6]))-\(String(d[6..<8]))"
    }

    /// "2026-11-25 14:03 UTC": a fixed Gregorian calendar in UTC, so neither the station's locale
    /// nor its time zone changes what is printed.
    static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        func two(_ n: Int?) -> String { let n = n ?? 0; return n < 10 ? "0\(n)" : "\(n)" }
        return "\(c.year ?? 0)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)) UTC"
    }
}
