import MediaReader
import SessionReport

/// Every file on a volume, in the order that reads the media most sequentially, plus what was
/// wrong with the volume's structures.
public struct MediaInventory: Sendable {
    public var files: [MediaEntry]
    public var findings: [Finding]
    /// Entries that are neither regular files nor directories (symlinks, devices): never read.
    public var skipped: [MediaEntry]
    /// Files found whose content cannot be read (broken chain, extent outside the image), each
    /// with its finding: they are listed in the report as refused, never silently left out.
    public var unreadable: [(entry: MediaEntry, finding: Finding)]

    /// Walks `volume` within `limits`. Files are sorted by their position on the media (extent,
    /// first cluster) so an optical drive reads forward instead of seeking back and forth.
    public init(volume: any Volume, limits: WalkLimits) {
        var files: [MediaEntry] = [], skipped: [MediaEntry] = [], findings: [Finding] = []
        var unreadable: [(entry: MediaEntry, finding: Finding)] = []
        volume.walk(limits: limits, visit: { entry in
            switch entry.kind {
            case .file: files.append(entry)
            case .directory: break
            case .symlink, .other: skipped.append(entry)
            }
        }, problem: { problem in
            let finding = problem.error.finding(at: problem.path)
            guard let entry = problem.unreadable else { findings.append(finding); return }
            unreadable.append((entry, entry.kind == .directory
                ? Finding(finding.code, finding.severity, finding.detail + "; this directory could not be listed, so what it holds was not read")
                : finding))
        })
        files.sort { ($0.locator.start, $0.path) < ($1.locator.start, $1.path) }
        for entry in skipped {
            findings.append(Finding(.mediaLinkIgnored, .low, "\(entry.path): \(entry.kind.rawValue) not followed"))
        }
        self.files = files
        self.skipped = skipped
        self.unreadable = unreadable
        self.findings = findings
    }

    /// Looks a path up case-insensitively (DICOMDIR file IDs are upper case; Joliet/LFN names need not be).
    public func index() -> [String: MediaEntry] {
        var map: [String: MediaEntry] = [:]
        for file in files { map[file.path.caseInsensitiveKey] = file }
        return map
    }
}
