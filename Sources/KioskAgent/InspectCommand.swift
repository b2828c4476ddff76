import ArgumentParser
import Crypto
import DICOMCore
import Foundation
import Protector
import SessionReport

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Run the Protector on single DICOM files and print what it found and would deliver.",
        discussion: "Nothing is imported. Exit 0 when every file would be delivered, 3 when any would be rejected."
    )

    @Argument(help: "DICOM files.", completion: .file())
    var files: [String]

    @Flag(help: "Print the result in the session report schema (files[]) as JSON.")
    var json = false

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let configuration = try common.loadConfiguration()
        var parsing = ParsingOptions()
        parsing.maxDepth = configuration.maxNestingDepth
        parsing.maxElements = configuration.maxElements
        parsing.maxFileSize = configuration.maxFileSize
        let protector = Protector(policy: ProtectorPolicy(parsing: parsing,
                                                          implementationClassUID: KioskAgentVersion.implementationClassUID,
                                                          implementationVersionName: KioskAgentVersion.implementationVersionName))
        var records: [FileRecord] = []
        for path in files {
            records.append(inspect(path, protector: protector, limit: configuration.inMemoryFileLimit))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write(try encoder.encode(["files": records]) + Data("\n".utf8))
        } else {
            for record in records {
                print("\(record.path): \(record.verdict.rawValue)" + (record.sopInstanceUID.map { " (SOP Instance \($0))" } ?? ""))
                for finding in record.findings {
                    print("  [\(finding.severity.rawValue)] \(finding.code)" + (finding.element.map { " \($0)" } ?? "") + ": \(finding.detail)")
                }
            }
        }
        if records.contains(where: { $0.verdict == .rejected }) { throw ExitCode(3) }
    }

    private func inspect(_ path: String, protector: Protector, limit: Int64) -> FileRecord {
        let bytes: [UInt8]
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            guard size <= limit else {
                return FileRecord(path: path, size: size, kind: .other, verdict: .rejected,
                                  findings: [Finding("structure.file-too-large", .medium, "larger than the in-memory limit of \(limit) bytes")])
            }
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            return FileRecord(path: path, size: 0, kind: .other, verdict: .rejected,
                              findings: [Finding("media.io-error", .medium, error.localizedDescription)])
        }
        let protection = protector.protect(InMemoryByteSource(bytes))
        return FileRecord(path: path, size: Int64(bytes.count), sha256: SHA256.hash(data: bytes).hexString,
                          kind: protection.isDirectory ? .dicomdir : .dicom, verdict: protection.verdict,
                          findings: protection.findings, sopInstanceUID: protection.summary?.sopInstanceUID.nonEmpty,
                          studyInstanceUID: protection.summary?.studyInstanceUID.nonEmpty)
    }
}
