import Foundation

/// The parts of a batch's stored report (schema `kiosk-agent.report/1`, written by the worker) the review reads. Its
/// own small decoder, so the store needs nothing of the pipeline; unknown fields are ignored and every field it
/// reads is optional, so a report from any version decodes.
struct ReviewReport: Decodable {
    struct Finding: Decodable {
        var code: String
        var severity: String?
    }
    struct File: Decodable {
        var verdict: String?
        var delivery: String?
        var findings: [Finding]?
    }
    struct MediaPatient: Decodable {
        var name: String?
        var id: String?
        var issuer: String?
        var birthDate: String?
        var sex: String?
    }
    struct Study: Decodable {
        var studyInstanceUID: String?
        var patientName: String?
        var patientID: String?
        var birthDate: String?
        var description: String?
        var modalities: [String]?
        var instances: Int?
        var series: Int?
        var identity: String?
        var identityScore: Int?
        var identityReasons: [String]?
        var institutions: [String]?
        var studyDate: String?
        var mediaPatient: MediaPatient?
    }
    struct Media: Decodable {
        var findings: [Finding]?
    }
    struct Totals: Decodable {
        var files: Int?
        var dicom: Int?
        var clean: Int?
        var disarmed: Int?
        var rejected: Int?
        var discarded: Int?
        var delivered: Int?
    }
    struct Expected: Decodable {
        var id: String?
        var name: String?
        var birthDate: String?
    }

    var expectedPatient: Expected?
    var media: Media?
    var files: [File]?
    var studies: [Study]?
    var totals: Totals?
    var identityOverride: String?

    static func decode(_ json: String?) -> ReviewReport? {
        guard let json else { return nil }
        return try? JSONDecoder().decode(ReviewReport.self, from: Data(json.utf8))
    }
}

/// Why a held batch waits for a person. Derived from what the worker recorded: the report's identity results and
/// findings, and the problems it had with the uploads.
public enum ReviewReason: String, Sendable, Codable, CaseIterable {
    /// A study whose patient differs in every field that was compared with the expected patient.
    case identityMismatch = "identity-mismatch"
    /// A study whose patient agrees in some compared fields and differs (or is missing) in others.
    case partialMatch = "partial-match"
    /// A study whose patient was not compared: nobody was expected (a kiosk desk that named no one).
    case identityUnverified = "identity-unverified"
    /// The upload holds images of more than one patient.
    case severalPatients = "several-patients"
    /// An upload could not be read from the staging store.
    case unreadableUpload = "unreadable-upload"
    /// An upload's bytes differ from the SHA-256 its uploader declared.
    case changedBytes = "changed-bytes"
    /// The medium (or an archive in the upload) could not be read completely.
    case unreadableMedia = "unreadable-media"
    /// Nothing in the batch is DICOM that could be delivered.
    case nothingDeliverable = "nothing-deliverable"
    /// The PACS refused instances for good.
    case deliveryFailed = "delivery-failed"
    /// Files the Protector rejected for something other than malware (structure, policy). The policy has no
    /// "send to a person" verdict of its own: its rejections are quarantined, and the reviewer sees them here.
    case rejectedFiles = "rejected-files"
}

/// How one identity field of a study compared with the expected patient, as the identity check's reasons say.
public enum FieldComparison: String, Sendable, Codable {
    case match
    /// Matches in a weaker way (an initial, swapped family and given names, a missing middle name).
    case weakMatch = "weak-match"
    case differs
    case missing
    /// The check did not compare it (with reconciliation the Patient ID is the hospital's to set, not compared).
    case notCompared = "not-compared"
}

/// The worker's problem texts, as BatchUnpacker writes them: one phrase per kind.
public enum BatchProblem {
    public static let unreadable = "could not be read from staging"
    public static let changedBytes = "its bytes do not match the SHA-256 the uploader declared"

    static func reason(_ problem: String) -> ReviewReason {
        problem.contains(changedBytes) ? .changedBytes : .unreadableUpload
    }
}

extension ReviewReport {
    /// The fields compared for one study, from the identity check's reasons ("Patient ID matches", "birth date
    /// differs", "name matches by an initial only", …).
    static func fields(_ reasons: [String]?) -> [String: FieldComparison] {
        var fields: [String: FieldComparison] = ["patientID": .notCompared, "birthDate": .notCompared, "name": .notCompared]
        for reason in reasons ?? [] {
            let key: String
            if reason.hasPrefix("Patient ID") { key = "patientID" }
            else if reason.hasPrefix("birth date") { key = "birthDate" }
            else if reason.hasPrefix("name") { key = "name" }
            else { continue }
            if reason.contains("missing") && !reason.contains("matches") { fields[key] = .missing }
            else if reason.contains("differs") && !reason.hasPrefix("name matches") { fields[key] = .differs }
            else if reason == "name matches" || reason.hasSuffix(" matches") { fields[key] = .match }
            else { fields[key] = .weakMatch }
        }
        return fields
    }

    /// A held study's reason: a mismatch where some compared field agrees is a partial match.
    static func studyReason(_ study: Study) -> ReviewReason? {
        switch study.identity {
        case "mismatch":
            let compared = fields(study.identityReasons).values
            return compared.contains(where: { $0 == .match || $0 == .weakMatch }) ? .partialMatch : .identityMismatch
        case "unverified": return .identityUnverified
        default: return nil
        }
    }

    /// Every reason the report and the worker's problems give, in `ReviewReason` order.
    func reasons(problems: [String]) -> [ReviewReason] {
        var found = Set<ReviewReason>()
        for study in studies ?? [] { if let reason = Self.studyReason(study) { found.insert(reason) } }
        let mediaFindings = media?.findings ?? []
        let distinctPatients = Set((studies ?? []).compactMap { study in
            study.mediaPatient.map { [$0.id ?? "", $0.name ?? "", $0.birthDate ?? ""] }
        })
        if mediaFindings.contains(where: { $0.code == "identity.multiple-patients" }) || distinctPatients.count > 1 { found.insert(.severalPatients) }
        if mediaFindings.contains(where: { $0.code.hasPrefix("media.") && ($0.severity == "high" || $0.severity == "critical") }) {
            found.insert(.unreadableMedia)
        }
        for problem in problems { found.insert(BatchProblem.reason(problem)) }
        if (totals?.dicom ?? 0) == 0 { found.insert(.nothingDeliverable) }
        let files = self.files ?? []
        if files.contains(where: { $0.delivery == "failed" }) { found.insert(.deliveryFailed) }
        if files.contains(where: { file in
            file.verdict == "rejected" && !(file.findings ?? []).contains(where: { $0.code.hasPrefix("malware.") })
        }) { found.insert(.rejectedFiles) }
        return ReviewReason.allCases.filter(found.contains)
    }
}
