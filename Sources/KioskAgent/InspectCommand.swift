import ArgumentParser
import Crypto
import DICOMCore
import Foundation
import MediaReader
import Protector
import SessionReport

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Run the Protector on single DICOM files and print the per-part verdict map.",
        discussion: """
            For each file: the verdict, the findings, and every part (preamble, meta, elements, private \
            blocks, frames, fragments, documents, overlays, icons, trailing bytes) with the checks and \
            engines that looked at it and what the rebuild did with it. Nothing is imported. Exit 0 when \
            every file would be delivered, 3 when any would be rejected.
            """
    )

    @Argument(help: "DICOM files.", completion: .file())
    var files: [String]

    @Flag(help: "Print the result in the session report schema (files[] with parts[]) as JSON.")
    var json = false

    @Option(name: .customLong("signatures"), help: "A libclamav signature database (file or directory); repeat for several.",
            completion: .file())
    var signatures: [String] = []

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let configuration = try common.loadConfiguration()
        let protector = try ProtectorSetup.make(configuration, signatures: signatures)
        let records = files.map { inspect($0, protector: protector) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write(try encoder.encode(Output(files: records)) + Data("\n".utf8))
        } else {
            print(records.map(InspectCommand.render).joined(separator: "\n"), terminator: "")
        }
        if records.contains(where: { $0.verdict == .rejected }) { throw ExitCode(3) }
    }

    /// The session report's schema name and `files[]`, without the session parts.
    struct Output: Encodable {
        var schema = Report.schemaName
        let files: [FileRecord]
    }

    private func inspect(_ path: String, protector: Protector) -> FileRecord {
        let file: SystemFile
        do { file = try SystemFile(readOnly: path) } catch {
            return FileRecord(path: path, size: 0, kind: .other, verdict: .rejected,
                              findings: [Finding("media.io-error", .medium, "\(error)")])
        }
        let source = FileByteSource(file)
        let sha: String
        do { sha = try source.sha256() } catch {
            return FileRecord(path: path, size: file.size, kind: .other, verdict: .rejected,
                              findings: [Finding("media.io-error", .medium, "\(error)")])
        }
        let protection = protector.protect(source)
        var record = FileRecord(path: path, size: file.size, sha256: sha, kind: protection.isDirectory ? .dicomdir : .dicom,
                                verdict: protection.verdict, findings: protection.findings,
                                sopInstanceUID: protection.summary?.sopInstanceUID.nonEmpty,
                                studyInstanceUID: protection.summary?.studyInstanceUID.nonEmpty)
        record.parts = protection.parts
        return record
    }

    /// The text map: the verdict, the findings, then one line per part.
    static func render(_ record: FileRecord) -> String {
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
            text += part.findings.isEmpty ? "\n" : "  (\(part.findings.joined(separator: ", ")))\n"
        }
        return text
    }
}

/// A local file read with pread, for `inspect`: large files are never loaded whole.
final class FileByteSource: ByteSource {
    let file: SystemFile

    init(_ file: SystemFile) { self.file = file }

    var count: Int64 { file.size }

    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = try bytes.withUnsafeMutableBytes { raw in
                try file.read(at: offset + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: raw[done...]))
            }
            guard n > 0 else { throw MediaError.shortRead("\(file.path): \(count - done) byte(s) missing at \(offset + Int64(done))") }
            done += n
        }
        return bytes
    }

    func sha256() throws -> String {
        var hash = SHA256()
        var offset: Int64 = 0
        while offset < count {
            let piece = try read(at: offset, count: Int(min(4 << 20, count - offset)))
            hash.update(data: piece)
            offset += Int64(piece.count)
        }
        return hash.finalize().hexString
    }
}
