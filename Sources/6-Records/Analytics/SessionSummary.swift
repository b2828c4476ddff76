import Foundation
import SessionReport

/// What analytics keep of one session: counts, codes, sending facilities and media traits — no
/// patient names, IDs, birth dates or UIDs, so the aggregated views can be shown to anyone.
public struct SessionSummary: Codable, Sendable, Equatable {
    public var session: String
    public var started: Date?
    public var finished: Date?
    public var filesystem: String
    public var exit: Int
    public var files = 0, dicom = 0, clean = 0, disarmed = 0, rejected = 0, discarded = 0, delivered = 0
    public var studies = 0, instances = 0
    /// Bytes of all files on the media (what was read).
    public var bytes: Int64 = 0
    /// Studies whose patient did not match the one at the desk; whether any was imported by override.
    public var mismatches = 0
    public var overridden = false
    /// Findings per family (`malware`, `preamble`, …) and per code.
    public var families: [String: Int] = [:]
    public var codes: [String: Int] = [:]
    /// Files with a malware finding.
    public var malwareFiles = 0
    /// Malware findings by engine, then by signature (an engine that gave no verdict is a `malware.engine-failure`
    /// code, not a signature). Optional: lines written before it was kept decode without it.
    public var malware: [String: [String: Int]]?
    /// Studies of another patient imported by a recorded identity override (optional, as `malware`).
    public var overriddenStudies: Int?
    /// The disc had a DICOMDIR, and followed the IHE PDI layout (DICOMDIR at the root, PS3.10 file IDs, all files listed).
    public var hasDICOMDIR = false
    public var pdiLayout = false
    /// Any instance was JPEG 2000 on the media; the facilities whose studies were.
    public var jpeg2000 = false
    /// Optional: lines written before it was kept decode without it.
    public var jpeg2000Institutions: [String]?
    /// Instances per facility (a disc may hold studies from several).
    public var instancesByInstitution: [String: Int]?
    /// Institution Name of the studies (the sending facilities).
    public var institutions: [String] = []

    public init(_ report: Report, exit: Int) {
        session = report.sessionID ?? ""
        let parse = ISO8601DateFormatter()
        parse.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        started = report.startedAt.flatMap(parse.date(from:))
        finished = report.finishedAt.flatMap(parse.date(from:))
        filesystem = report.source.filesystem
        self.exit = exit
        let t = report.totals
        files = t.files; dicom = t.dicom; clean = t.clean; disarmed = t.disarmed; rejected = t.rejected; discarded = t.discarded
        delivered = t.delivered
        studies = report.studies.count
        instances = report.studies.reduce(0) { $0 + $1.instances }
        bytes = report.files.reduce(0) { $0 + $1.size }
        mismatches = report.studies.filter { $0.identity == .mismatch }.count
        overridden = report.identityOverride != nil && mismatches > 0
        for finding in report.media.findings + report.files.flatMap(\.findings) {
            families[finding.family.rawValue, default: 0] += 1
            codes[finding.code.rawValue, default: 0] += 1
        }
        malwareFiles = report.files.filter { $0.findings.contains { $0.family == .malware } }.count
        var malware: [String: [String: Int]] = [:]
        for finding in report.files.flatMap(\.findings) {
            guard let (engine, signature) = SessionSummary.malwareSignature(finding) else { continue }
            malware[engine, default: [:]][signature, default: 0] += 1
        }
        self.malware = malware
        overriddenStudies = overridden ? mismatches : 0
        let directories = report.files.filter { $0.kind == .dicomdir }
        hasDICOMDIR = !directories.isEmpty
        pdiLayout = directories.contains { $0.path.uppercased() == "/DICOMDIR" }
            && report.files.filter { $0.kind == .dicom }.allSatisfy { SessionSummary.isFileID($0.path) }
            && !report.files.contains { $0.findings.contains { $0.code == .dicomdirUnlistedFile } }
            && !report.media.findings.contains { $0.code == .dicomdirMissingFile }
        let j2k = report.studies.filter { ($0.transferSyntaxes ?? []).contains { SessionSummary.jpeg2000Syntaxes.contains($0) } }
        jpeg2000 = !j2k.isEmpty
        jpeg2000Institutions = Array(Set(j2k.flatMap { $0.institutions ?? [] })).sorted()
        institutions = Array(Set(report.studies.flatMap { $0.institutions ?? [] })).sorted()
        var byInstitution: [String: Int] = [:]
        for study in report.studies { for name in study.institutions ?? [] { byInstitution[name, default: 0] += study.instances } }
        instancesByInstitution = byInstitution
    }

    /// The engine and signature of a malware finding: the code is `malware.<engine>`, the detail starts with the
    /// signature followed by ` in ` and where it was (EngineFindings, RebuildVerification). Nil for other findings
    /// and for an engine that gave no verdict.
    public static func malwareSignature(_ finding: Finding) -> (engine: String, signature: String)? {
        guard finding.family == .malware, finding.code != .malwareEngineFailure else { return nil }
        let engine = String(finding.code.rawValue.dropFirst("malware.".count))
        let detail = finding.detail
        let signature = detail.range(of: " in ").map { String(detail[..<$0.lowerBound]) } ?? detail
        return (engine, String(signature.prefix(200)))
    }

    /// JPEG 2000 (lossless and lossy), Part 2 multi-component, and HTJ2K.
    static let jpeg2000Syntaxes: Set<String> = [
        "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93",
        "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203",
    ]

    /// A PS3.10 §8.2 / PS3.12 file ID: at most 8 components of 1–8 characters from A–Z, 0–9 and `_`.
    static func isFileID(_ path: String) -> Bool {
        let components = path.split(separator: "/")
        return !components.isEmpty && components.count <= 8 && components.allSatisfy { component in
            (1...8).contains(component.count) && component.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
        }
    }

    public var seconds: Double? {
        guard let started, let finished else { return nil }
        return max(finished.timeIntervalSince(started), 0)
    }
}
