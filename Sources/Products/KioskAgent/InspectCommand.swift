import AgentConfiguration
import ArgumentParser
import Crypto
import DICOMCore
import Foundation
import IngestPipeline
import Intake
import MediaReader
import Protector
import SessionReport

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Run the Protector on single DICOM files and print the per-part verdict map.",
        discussion: """
            Directories are walked. For each file: the verdict, the findings, and every part (preamble, meta, elements, private \
            blocks, frames, fragments, documents, overlays, icons, trailing bytes) with the checks and \
            engines that looked at it and what the rebuild did with it. Nothing is imported. A file that is \
            not DICOM (told by its content, as ingest does) is named for what it is and not taken apart. \
            Exit 0 when every file would be delivered; 3 when any would be rejected or is not DICOM; \
            2 usage error (such as a file that does not exist).
            """
    )

    @Argument(help: "DICOM files, or directories to walk (symbolic links are not followed).", completion: .file())
    var files: [String]

    @Option(help: ArgumentHelp("Write each file that would be delivered, rebuilt, under DIR (paths kept relative to the argument).",
                               valueName: "DIR"), completion: .directory)
    var output: String?

    @Flag(help: "Print the result in the session report schema (files[] with parts[]) as JSON.")
    var json = false

    @Option(name: .customLong("signatures"), help: "A libclamav signature database (file or directory); repeat for several.",
            completion: .file())
    var signatures: [String] = []

    @OptionGroup var common: CommonOptions

    func validate() throws {
        // A mistyped path is a usage error, not a file the Protector would reject.
        for file in files where !FileManager.default.fileExists(atPath: file) {
            throw ValidationError("no such file or directory: \(file)")
        }
    }

    func run() async throws {
        let configuration = try common.loadConfiguration()
        let protector = try ProtectorSetup.make(configuration, signatures: signatures)
        let targets = try InspectCommand.expand(files)
        let output = self.output.map { URL(fileURLWithPath: $0) }
        let limit = configuration.inMemoryFileLimit
        // Files in parallel, one per core in flight; results in argument order.
        var results = [FileRecord?](repeating: nil, count: targets.count)
        let window = max(2, ProcessInfo.processInfo.activeProcessorCount)
        await withTaskGroup(of: (Int, FileRecord).self) { group in
            var next = 0, inFlight = 0
            while next < targets.count || inFlight > 0 {
                while inFlight < window, next < targets.count {
                    let index = next, target = targets[index]
                    group.addTask {
                        (index, InspectCommand.inspect(target.path, protector: protector, limit: limit,
                                                       output: output.map { $0.appendingPathComponent(target.relative) }))
                    }
                    next += 1
                    inFlight += 1
                }
                if let (index, record) = await group.next() {
                    results[index] = record
                    inFlight -= 1
                }
            }
        }
        let records = results.compactMap { $0 }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write(try encoder.encode(Output(files: records)) + Data("\n".utf8))
        } else {
            print(records.map(InspectCommand.render).joined(separator: "\n"), terminator: "")
        }
        if records.contains(where: { $0.verdict == .rejected || $0.verdict == .discarded }) { throw ExitCode(3) }
    }

    /// The session report's schema name and `files[]`, without the session parts.
    struct Output: Encodable {
        var schema = Report.schemaName
        let files: [FileRecord]
    }

    struct Target: Sendable {
        let path: String
        /// Where its rebuild goes under `--output`.
        let relative: String
    }

    /// Files as given, and the regular files under each directory (sorted; links not followed).
    static func expand(_ arguments: [String]) throws -> [Target] {
        var targets: [Target] = []
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory), isDirectory.boolValue else {
                targets.append(Target(path: argument, relative: URL(fileURLWithPath: argument).lastPathComponent))
                continue
            }
            let root = URL(fileURLWithPath: argument).standardizedFileURL
            let keys: [URLResourceKey] = [.isRegularFileKey, .isSymbolicLinkKey]
            guard let walk = FileManager.default.enumerator(at: root, includingPropertiesForKeys: keys) else {
                throw ValidationError("cannot read the directory \(argument)")
            }
            var found: [Target] = []
            for case let url as URL in walk {
                let values = try? url.resourceValues(forKeys: Set(keys))
                guard values?.isRegularFile == true, values?.isSymbolicLink != true else { continue }
                let relative = String(url.standardizedFileURL.path.dropFirst(root.path.count).drop { $0 == "/" })
                found.append(Target(path: url.path, relative: relative))
            }
            targets += found.sorted { $0.relative < $1.relative }
        }
        return targets
    }

    static func inspect(_ path: String, protector: Protector, limit: Int64, output: URL?) -> FileRecord {
        let file: SystemFile
        do { file = try SystemFile(readOnly: path) } catch {
            return FileRecord(path: path, size: 0, kind: .other, verdict: .rejected,
                              findings: [Finding(.mediaIOError, .medium, "\(error)")])
        }
        // Files up to the in-memory limit are read whole (one read; engines map them directly).
        let streamed = FileByteSource(file)
        let source: any ByteSource
        let sha: String
        let prefix: [UInt8]
        do {
            if file.size <= limit {
                let bytes = try streamed.read(at: 0, count: Int(file.size))
                source = InMemoryByteSource(bytes)
                sha = SHA256.hash(data: bytes).lowercaseHex
                prefix = Array(bytes.prefix(ContentClassifier.prefixLength))
            } else {
                source = streamed
                sha = try streamed.sha256()
                prefix = try streamed.read(at: 0, count: ContentClassifier.prefixLength)
            }
        } catch {
            return FileRecord(path: path, size: file.size, kind: .other, verdict: .rejected,
                              findings: [Finding(.mediaIOError, .medium, "\(error)")])
        }
        // Told by content as ingest tells it: a program is not a DICOM file with structure errors.
        let classification = ContentClassifier.classify(name: URL(fileURLWithPath: path).lastPathComponent, prefix: prefix)
        guard classification.kind == .dicom else {
            let words = ContentClassifier.notDICOM(classification, prefix: prefix, size: file.size)
            let code: FindingCode = switch classification.kind { case .executable: .executableDiscarded; case .autorun: .autorunDiscarded; default: .contentDiscarded }
            return FileRecord(path: path, size: file.size, sha256: sha, kind: classification.kind, verdict: .discarded,
                              findings: [Finding(code, classification.kind == .executable || classification.kind == .autorun ? .medium : .info,
                                                 words + "; it would not be imported")])
        }
        let protection = protector.protect(source)
        var record = FileRecord(path: path, size: file.size, sha256: sha, kind: protection.isDirectory ? .dicomdir : .dicom,
                                verdict: protection.verdict, findings: protection.findings,
                                sopInstanceUID: protection.summary?.sopInstanceUID.nonEmpty,
                                studyInstanceUID: protection.summary?.studyInstanceUID.nonEmpty)
        record.parts = protection.parts
        if let output, protection.rebuilt != nil, !protection.isDirectory {
            do {
                try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
                guard FileManager.default.createFile(atPath: output.path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
                let handle = try FileHandle(forWritingTo: output)
                defer { try? handle.close() }
                try protector.write(protection, source: source) { try handle.write(contentsOf: $0) }
            } catch {
                record.findings.append(Finding(.deliveryWriteFailed, .high, "the rebuilt file could not be written to \(output.path): \(error)"))
            }
        }
        return record
    }

    /// The text map: the verdict, the findings, then one line per part.
    static func render(_ record: FileRecord) -> String {
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
