import AgentConfiguration
import ArgumentParser
import Foundation
import IngestPipeline
import Protector

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Run the Protector on single DICOM files and print the per-part verdict map.",
        discussion: """
            Directories are walked. For each file: the verdict, the findings, and every part (preamble, meta, elements, private \
            blocks, frames, fragments, documents, overlays, icons, trailing bytes) with the checks and \
            engines that looked at it and what the rebuild did with it. Each argument is read, taken apart \
            and rebuilt by the sandboxed media helper, as ingest reads a medium. Nothing is imported. A file that is \
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
        // Each argument is read by a sandboxed media helper, as a medium is for ingest.
        let inspection = Inspection(configuration: configuration, protector: protector, output: output.map { URL(fileURLWithPath: $0) })
        let records = await inspection.run(files)
        if json {
            FileHandle.standardOutput.write(try Inspection.json(records))
        } else {
            print(records.map(Inspection.render).joined(separator: "\n"), terminator: "")
        }
        if !Inspection.allDelivered(records) { throw ExitCode(3) }
    }
}
