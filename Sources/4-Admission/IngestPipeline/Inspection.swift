import AgentConfiguration
import Delivery
import Foundation
import Protector
import SessionReport
#if canImport(Glibc)
import Glibc
#endif

/// `inspect`: each argument, a DICOM file or a directory to walk, is read by a sandboxed media
/// helper exactly as `ingest` reads a medium (`IngestSession`), so the files are parsed, taken
/// apart and rebuilt only inside the sandbox. A file argument is the helper's whole medium (it
/// never reaches the file's siblings, and the file is never probed as a disc image). Nothing is
/// kept in the state directory: the helper's scratch is a private temporary directory, rebuilt
/// files go under `output` or nowhere, rejected originals are not quarantined.
public struct Inspection: Sendable {
    public var configuration: Configuration
    public var protector: Protector
    /// Where each rebuilt file is written, at its path relative to its argument; nil: nowhere.
    public var output: URL?

    public init(configuration: Configuration, protector: Protector, output: URL?) {
        self.configuration = configuration
        self.protector = protector
        self.output = output
    }

    /// One record per file: arguments in order, the files under a directory sorted by their path.
    /// An argument the helper could not finish (it crashed, stalled, or the argument cannot be
    /// read) also gets a rejected record of its own that says why; the other arguments go on.
    public func run(_ arguments: [String]) async -> [FileRecord] {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiosk-inspect-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            return arguments.map { Inspection.failed($0, Finding(.mediaHelperFailed, .critical,
                "no temporary directory for the media reader (\(error)); nothing was read")) }
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Several arguments at once, one helper each; results in argument order.
        var results = [[FileRecord]](repeating: [], count: arguments.count)
        let window = max(2, ProcessInfo.processInfo.activeProcessorCount)
        await withTaskGroup(of: (Int, [FileRecord]).self) { group in
            var next = 0, inFlight = 0
            while next < arguments.count || inFlight > 0 {
                while inFlight < window, next < arguments.count {
                    let index = next
                    group.addTask { (index, await self.inspect(arguments[index], scratch: scratch)) }
                    next += 1
                    inFlight += 1
                }
                if let (index, records) = await group.next() {
                    results[index] = records
                    inFlight -= 1
                }
            }
        }
        return results.flatMap { $0 }
    }

    /// One argument through one helper.
    private func inspect(_ argument: String, scratch: URL) async -> [FileRecord] {
        var status = stat()
        let type = lstat(argument, &status) == 0 ? status.st_mode & S_IFMT : 0
        let sink: any DeliverySink
        do {
            sink = try output.map { try DirectorySink(root: $0) } ?? DiscardSink(root: scratch)
        } catch {
            return [Inspection.failed(argument, Finding(.deliveryWriteFailed, .high,
                "the output directory \(output?.path ?? "") cannot be used: \(error)"))]
        }
        var settings = IngestSession.Settings(
            sourcePath: argument, sink: sink, destination: output?.path ?? "none", drainer: nil, expected: nil, identityOverride: nil,
            configuration: configuration, stateDirectory: StateDirectory(scratch), sessionID: "inspect-\(UUID().uuidString)", protector: protector,
            progress: nil)
        settings.inspect = true
        settings.oneFile = type == S_IFREG
        let (report, _) = await IngestSession(settings: settings).run()

        // Named as the user gave them: the argument itself for a file, below it for a directory.
        let base = String(argument.reversed().drop { $0 == "/" }.reversed())
        var records = report.files.sorted { $0.path < $1.path }.map { file in
            var record = file
            record.path = type == S_IFREG ? argument : base + file.path
            if record.delivery == .failed, let output {
                record.findings = record.findings.map { finding in
                    guard finding.code.family == .delivery else { return finding }
                    let why = finding.detail.range(of: ": ").map { String(finding.detail[$0.upperBound...]) } ?? finding.detail
                    return Finding(.deliveryWriteFailed, .high, "the rebuilt file could not be written under \(output.path): \(why)")
                }
            }
            record.delivery = .none
            return record
        }
        // What kept the helper from reading the argument (or all of it) is said on the argument.
        let problems = report.media.findings.filter { $0.severity >= .medium }
        if !problems.isEmpty { records.append(Inspection.failed(argument, problems)) }
        return records
    }

    private static func failed(_ argument: String, _ findings: Finding...) -> FileRecord {
        failed(argument, findings)
    }

    private static func failed(_ argument: String, _ findings: [Finding]) -> FileRecord {
        FileRecord(path: argument, size: 0, kind: .other, verdict: .rejected, findings: findings)
    }

    /// Whether every file would be delivered (`inspect` exits 0), or some would be rejected or
    /// are not DICOM (exit 3).
    public static func allDelivered(_ records: [FileRecord]) -> Bool {
        !records.contains { $0.verdict == .rejected || $0.verdict == .discarded }
    }

    /// The session report's schema name and `files[]`, without the session parts.
    public struct Output: Encodable {
        public var schema = Report.schemaName
        public let files: [FileRecord]

        public init(files: [FileRecord]) { self.files = files }
    }

    public static func json(_ records: [FileRecord]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(Output(files: records)) + Data("\n".utf8)
    }

    /// The text map: the verdict, the findings, then one line per part.
    public static func render(_ record: FileRecord) -> String {
        if record.verdict == .discarded, let finding = record.findings.first {
            return "\(record.path): \(finding.detail)\n"
        }
        var text = "\(record.path): \(record.verdict.rawValue)" + (record.sopInstanceUID.map { " (SOP Instance \($0))" } ?? "") + "\n"
        for finding in record.findings {
            text += "  [\(finding.severity.rawValue)] \(finding.code)" + (finding.element.map { " \($0)" } ?? "") + ": \(finding.detail)\n"
        }
        guard let parts = record.parts, !parts.isEmpty else { return text }
        text += "  parts:\n"
        let width = min(48, parts.map(\.location.count).max() ?? 0)
        for part in parts {
            let location = part.location.padding(toLength: max(width, part.location.count), withPad: " ", startingAt: 0)
            text += "    \(location)  \(part.part) \(part.size) B  [\(part.checks.joined(separator: ", "))] → \(part.action.rawValue)"
            text += part.findings.isEmpty ? "\n" : "  (\(part.findings.map(\.rawValue).joined(separator: ", ")))\n"
        }
        return text
    }
}
