import Foundation
import PortalStore
import SessionReceipt
import SessionReport

/// The result object the patient is shown for a batch, from what the worker recorded: the batch report's studies,
/// counts and left-out files, worded as on the kiosk's receipt (`FindingWording`), and the receipt's lookup code.
/// It names no patient, path inside core, finding code or identifier.
enum EdgeResultBuilder {
    /// Left-out files listed at most; the rest are counted in the summary.
    static let leftOutLimit = 200

    static let anotherPatient = "the images belong to another patient"
    static let notAccepted = "the hospital's image system did not accept them; staff will look at it"
    static let heldForReview = "a member of staff needs to look at them before they are added to your record"

    static func build(_ source: EdgeResultSource) -> EdgeResult {
        let report = source.reportJSON.flatMap { try? JSONDecoder().decode(Report.self, from: Data($0.utf8)) }
        let decidedAt = ISO8601DateFormatter().string(from: source.decidedAt ?? Date())
        let code = report?.lookupCode ?? LookupCode.generate()
        guard let report else {
            let reason = source.problems.first ?? "it could not be read"
            return EdgeResult(
                receiptCode: code, reachedHospital: false, decidedAt: decidedAt,
                summary: "The hospital could not take this upload: \(reason). Please send your images again, or call the hospital.",
                studies: [], leftOut: [], state: source.state)
        }
        let studies = report.studies.map { study(of: $0, in: report, batchState: source.state) }
        // The disc's index is read, never delivered: the page sent it on purpose, and it is no "file left out".
        let discarded = report.files.filter { $0.verdict == .discarded && $0.kind != .dicomdir }
        let leftOut = discarded.prefix(leftOutLimit).map { file in
            EdgeResult.LeftOut(name: displayPath(file.path), why: why(file))
        }
        let delivered = report.totals.delivered
        return EdgeResult(
            receiptCode: code, reachedHospital: delivered > 0, decidedAt: decidedAt,
            summary: summary(state: source.state, report: report, studies: studies, leftOut: discarded.count, problems: source.problems),
            studies: studies, leftOut: leftOut, state: source.state)
    }

    static func study(of study: Study, in report: Report, batchState: String) -> EdgeResult.Study {
        let files = report.files.filter { $0.studyInstanceUID == study.studyInstanceUID }
        let accepted = files.filter { ($0.verdict == .clean || $0.verdict == .disarmed) && $0.delivery == .stored }.count
        // Cleaned counts what reached the hospital after cleaning: a held file was not "cleaned" for the patient.
        let cleaned = files.filter { $0.verdict == .disarmed && $0.delivery == .stored }.count
        let refused = files.filter { $0.verdict == .rejected }.count
        var heldBecause: String?
        if study.identity == .mismatch {
            heldBecause = anotherPatient
        } else if files.contains(where: { $0.delivery == .failed }) {
            heldBecause = notAccepted
        } else if batchState == "held" && accepted == 0 {
            heldBecause = heldForReview
        }
        // One sentence per kind of problem, worst kinds first as the receipt orders them; routine clean-up is one line.
        var notes: [String] = []
        // Images of another patient stay out of the record whatever was done to them: the reason is all that applies.
        let findings = heldBecause == anotherPatient ? [] : files.flatMap(\.findings).filter { $0.routineRemoval == nil && $0.code.family != .identity }
        for finding in findings.sorted(by: { $0.severity > $1.severity }) {
            let sentence = FindingWording.explain(finding)
            if !notes.contains(sentence) { notes.append(sentence) }
        }
        if heldBecause != anotherPatient, files.contains(where: { file in file.findings.contains { $0.routineRemoval != nil } }) {
            notes.append("Private manufacturer data and similar routine details were removed, as on every import (not a threat).")
        }
        let description = study.description.trimmingCharacters(in: .whitespaces)
        return EdgeResult.Study(
            description: description.isEmpty ? "(no description)" : description,
            date: study.studyDate.map(isoDate), modality: study.modalities.isEmpty ? nil : study.modalities.joined(separator: ", "),
            accepted: accepted, cleaned: cleaned, refused: refused, heldBecause: heldBecause, notes: notes)
    }

    static func summary(state: String, report: Report, studies: [EdgeResult.Study], leftOut: Int, problems: [String]) -> String {
        let images = count(report.totals.delivered, "image", "images")
        let studyCount = count(studies.count, "study", "studies")
        var sentence: String
        switch state {
        case "delivered":
            sentence = "Your images reached the hospital: \(images) from \(studyCount) are now in the hospital's image system."
        case "held":
            let reason = studies.compactMap(\.heldBecause).first ?? heldForReview
            sentence = report.totals.delivered > 0
                ? "\(images) reached the hospital's image system; the rest are held because \(reason)."
                : "The hospital has your upload but is holding it because \(reason)."
            sentence += " The hospital will contact you if anything more is needed."
        default:
            sentence = "The hospital could not finish checking this upload. Please call the hospital and quote the receipt code."
        }
        if report.totals.dicom == 0 && state != "failed" {
            sentence = "No medical images (DICOM files) were found in this upload; nothing was added to your record."
        }
        if leftOut > 0 { sentence += " \(count(leftOut, "file that is not an image was", "files that are not images were")) left out." }
        if report.totals.rejected > 0 { sentence += " \(count(report.totals.rejected, "image was", "images were")) refused for safety." }
        if !problems.isEmpty && state != "failed" { sentence += " Some files could not be read." }
        return sentence
    }

    /// Why a file was left out, in the receipt's words.
    static func why(_ file: FileRecord) -> String {
        if let finding = file.findings.first { return FindingWording.explain(finding) }
        return switch file.kind {
        case .executable: FindingWording.explain(.executableDiscarded)
        case .autorun: FindingWording.explain(.autorunDiscarded)
        default: FindingWording.explain(.contentDiscarded)
        }
    }

    /// The name as the patient's disc had it: the worker prefixes the medium it unpacked ("files/", an archive's name),
    /// and a directory's files are rooted at "/".
    static func displayPath(_ path: String) -> String {
        let relative = path.hasPrefix("/") ? String(path.dropFirst()) : path
        return relative.hasPrefix("files/") ? String(relative.dropFirst("files/".count)) : relative
    }

    static func isoDate(_ yyyymmdd: String) -> String {
        guard yyyymmdd.utf8.count == 8, yyyymmdd.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return yyyymmdd }
        let d = Array(yyyymmdd)
        return "\(String(d[0..<4]))-\(String(d[4..<6]))-\(String(d[6..<8]))"
    }

    static func count(_ n: Int, _ one: String, _ many: String) -> String { "\(n) \(n == 1 ? one : many)" }
}
