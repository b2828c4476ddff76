import Foundation
import IngestPipeline
import SessionReport

/// The short summary `ingest` prints on stderr for staff and IT. It names counts, never patients:
/// stderr ends up in journals, which must not hold patient data.
enum HumanSummary {
    static func render(_ report: Report, exit: ExitStatus, reportPath: String?, seconds: Double,
                       stateDirectory: String? = nil, receipt: String? = nil) -> String {
        let patients = Set(report.studies.map { $0.patientID + "\u{0}" + $0.patientName }).count
        let series = report.studies.reduce(0) { $0 + $1.series }
        let instances = report.studies.reduce(0) { $0 + $1.instances }
        let findings = report.media.findings + report.files.flatMap(\.findings)
        var lines: [String] = []
        lines.append("kiosk-agent ingest: \(report.source.filesystem) volume \"\(report.source.label)\" at \(report.source.path)")
        lines.append("  \(patients) patient(s), \(report.studies.count) study(ies), \(series) series, \(instances) instance(s)")
        let t = report.totals
        lines.append("  files: \(t.files) read, \(t.dicom) DICOM (\(t.clean) clean, \(t.disarmed) disarmed, \(t.rejected) rejected), "
            + "\(t.discarded) discarded, \(t.delivered) delivered")
        // "disarmed" alone reads like a threat; most of it is the clean-up every vendor's file gets.
        let cleanup = report.cleanupCounts
        if let routine = cleanup.routineSentence { lines.append("  \(routine)") }
        if cleanup.forCause > 0 {
            lines.append("  \(cleanup.forCause) image(s): something unsafe or broken was removed — see the findings and the report")
        }
        if let noDICOM = report.media.findings.first(where: { $0.code == .mediaNoDICOM }) { lines.append("  \(noDICOM.detail)") }
        if !findings.isEmpty {
            var bySeverity: [Severity: Int] = [:]
            for finding in findings { bySeverity[finding.severity, default: 0] += 1 }
            let counts = Severity.allCases.reversed().compactMap { s in bySeverity[s].map { "\($0) \(s.rawValue)" } }
            lines.append("  findings: \(findings.count) (" + counts.joined(separator: ", ") + ")")
            var byCode: [FindingCode: Int] = [:]
            // Routine clean-up is said once above, not listed among the codes that need a look.
            for finding in findings where finding.severity >= .medium && finding.routineRemoval == nil { byCode[finding.code, default: 0] += 1 }
            for (code, count) in byCode.sorted(by: { $0.value > $1.value }).prefix(8) {
                lines.append("    \(code) ×\(count)")
            }
        }
        let mismatched = report.studies.filter { $0.identity == .mismatch }.count
        if mismatched > 0, report.identityOverride != nil {
            lines.append("  identity: \(mismatched) study(ies) do not match the expected patient — delivered by recorded override")
        } else if mismatched > 0 {
            lines.append("  identity: \(mismatched) study(ies) do not match the expected patient — held for review")
        }
        let threats = report.files.flatMap(\.findings).filter { $0.family == .malware || $0.code == .executableEmbedded }
        if !threats.isEmpty { lines.append("  threats: \(threats.count) finding(s) of malware or hidden programs — see the report") }
        if let destination = report.destination {
            let spooled = report.files.filter { $0.delivery == .spooled }.count
            let failed = report.files.filter { $0.delivery == .failed }.count
            var line = "  destination \(destination): \(t.delivered) stored"
            if spooled > 0 { line += ", \(spooled) pending in the spool" }
            if failed > 0 { line += ", \(failed) failed" }
            lines.append(line)
            // Why they wait, as the spool recorded it (the same reason for a whole study, as a rule).
            let reasons = report.files.filter { $0.delivery == .spooled }.flatMap(\.findings).filter { $0.code == .deliveryPending }.map(\.detail)
            if let reason = Dictionary(grouping: reasons, by: { $0 }).max(by: { $0.value.count < $1.value.count })?.key {
                lines.append("    waiting because: \(reason)")
            }
        }
        if let code = report.lookupCode, let receipt { lines.append("  Receipt code: \(code) — `\(receipt)`") }
        if let reportPath { lines.append("  report: \(reportPath)") }
        if let stateDirectory { lines.append("  state directory: \(stateDirectory)") }
        let outcome = exit == .delivered && report.totals.dicom == 0 ? "no DICOM files found, nothing imported" : describe(exit)
        lines.append(String(format: "  result: %@ (exit %d) in %.1f s", outcome, exit.rawValue, seconds))
        return lines.joined(separator: "\n") + "\n"
    }

    static func describe(_ exit: ExitStatus) -> String {
        switch exit {
        case .delivered: "all DICOM delivered"
        case .usage: "usage or configuration error"
        case .someRejected: "finished, some DICOM rejected (quarantined)"
        case .identityMismatch: "identity mismatch awaiting review"
        case .mediaUnreadable: "media unreadable"
        case .deliveryPending: "delivery pending (safe in the spool, retried automatically)"
        case .noRoom: "no room in the state directory"
        }
    }
}
