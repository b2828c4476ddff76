import AgentConfiguration
import ArgumentParser
import Delivery
import DICOMCore
import Foundation
import IngestPipeline
import Protector
import SessionReport

struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Read a disc, USB stick, image file or directory and import its DICOM studies.",
        discussion: """
            SOURCE is a block device, a disc or USB image file (its type is probed, never taken from \
            its name), or a directory. Nothing is mounted. Exit codes: 0 all DICOM delivered (also a medium \
            without any DICOM file, which the summary and the report's media.no-dicom finding say); 2 usage or \
            configuration error; 3 some DICOM rejected (quarantined); 4 identity mismatch awaiting review; \
            5 media unreadable; 6 delivery pending (spooled, retried automatically); 7 no room in the state \
            directory. Where several apply, the highest wins.
            """
    )

    @Argument(help: "Block device, image file or directory.", completion: .file())
    var source: String

    @Option(help: ArgumentHelp(
        "Where to deliver: archive:PATH, dicom://AE@HOST:PORT, dicoms://AE@HOST:PORT or dicomweb+http(s)://HOST:PORT/PATH.",
        discussion: "Default: the configuration's destination, else the archive under the state directory. Network destinations go through the durable spool."))
    var destination: String?

    @Option(name: .customLong("calling-ae"), help: "Our AE title towards a DICOM destination (default: [delivery] calling_ae).")
    var callingAE: String?

    @Option(name: .customLong("patient-id"), help: "Patient ID of the patient at the desk.")
    var patientID: String?

    @Option(name: .customLong("patient-name"), help: "Patient's name as Family^Given.")
    var patientName: String?

    @Option(name: .customLong("birth-date"), help: "Patient's birth date, YYYYMMDD.")
    var birthDate: String?

    @Option(name: .customLong("override-identity"), help: ArgumentHelp(
        "Deliver studies whose patient does not match the one at the desk, for this recorded REASON.",
        valueName: "REASON"))
    var overrideIdentity: String?

    @Flag(help: ArgumentHelp(
        "Import reconciliation: deliver under --patient-id (and --patient-name, --accession), keeping the media's values.",
        discussion: "Also enabled by [reconciliation] enabled = true. The media's Patient ID is then not compared with the desk's; name and birth date are."))
    var reconcile = false

    @Option(help: "With reconciliation: the hospital's Accession Number for the imported studies.")
    var accession: String?

    @Option(help: "Write the JSON session report to FILE.", completion: .file())
    var report: String?

    @Flag(help: "Print the JSON session report on stdout.")
    var json = false

    @Option(name: .customLong("signatures"), help: ArgumentHelp(
        "A libclamav signature database (file or directory); repeat for several.",
        discussion: "Replaces engines.signatures and the shipped set for this run."), completion: .file())
    var signatures: [String] = []

    @OptionGroup var common: CommonOptions

    func validate() throws {
        // A mistyped path is a usage error, not an unreadable medium.
        guard FileManager.default.fileExists(atPath: source) else { throw ValidationError("no such file or directory: \(source)") }
        if let callingAE, !AETitle.isValid(callingAE) {
            throw ValidationError("--calling-ae must be 1-16 characters, no backslash or control characters")
        }
        if let birthDate, !(birthDate.count == 8 && birthDate.allSatisfy(\.isNumber)) {
            throw ValidationError("--birth-date must be YYYYMMDD")
        }
        if let patientID, patientID.trimmingCharacters(in: .whitespaces).isEmpty {
            throw ValidationError("--patient-id must not be empty")
        }
        if let overrideIdentity {
            guard overrideIdentity.trimmingCharacters(in: .whitespaces).count >= 3 else {
                throw ValidationError("--override-identity needs a reason of at least 3 characters; it is recorded in the report")
            }
            guard (patientID ?? patientName ?? birthDate) != nil else {
                throw ValidationError("--override-identity only applies with --patient-id, --patient-name or --birth-date")
            }
        }
    }

    func run() async throws {
        let started = Date()
        let configuration = try common.loadConfiguration()
        let stateDirectory = common.stateDirectory
        let destination = try Destination(parsing: self.destination ?? configuration.destination ?? "archive:",
                                          stateDirectory: stateDirectory)
        let reconciliation = try reconciliation(configuration)
        // Reconciled IDs are the hospital's, the media's are another facility's: only name and birth date compare.
        let compared = Report.ExpectedPatient(id: reconciliation == nil ? patientID : nil, name: patientName, birthDate: birthDate)
        let expected: IdentityCheck? = (compared.id ?? compared.name ?? compared.birthDate) == nil ? nil : IdentityCheck(expected: compared)
        var job = IngestJob(source: source, destination: destination, configuration: configuration, stateDirectory: stateDirectory,
                            protector: try ProtectorSetup.make(configuration, signatures: signatures, reconciliation: reconciliation),
                            expected: expected, identityOverride: overrideIdentity, callingAE: callingAE)
        let (result, exit, text, kept) = try await job.run(progress: ProgressLine())
        if let report {
            do { try text.copy(to: URL(fileURLWithPath: report)) } catch {
                throw ValidationError("cannot write the report to \(report): \(error.localizedDescription)")
            }
        }
        if json {
            try text.write(to: FileHandle.standardOutput)
            FileHandle.standardOutput.write(Data("\n".utf8))
        }
        let receipt = job.receipt.map { "kiosk-agent receipt show \($0.lookupCode)" + common.stateDirectoryArgument }
        FileHandle.standardError.write(Data(HumanSummary.render(result, exit: exit, reportPath: report ?? kept,
                                                                seconds: Date().timeIntervalSince(started),
                                                                stateDirectory: common.stateDirectoryDescription, receipt: receipt).utf8))
        if exit != .delivered { throw exit.exitCode }
    }

    private func reconciliation(_ configuration: Configuration) throws -> Reconciliation? {
        guard reconcile || configuration.reconciliation.enabled else {
            if accession != nil { throw ValidationError("--accession only applies with reconciliation (--reconcile)") }
            return nil
        }
        guard let patientID else { throw ValidationError("reconciliation needs --patient-id: the hospital's ID to deliver under") }
        if let patientName, !patientName.contains("^") {
            throw ValidationError("with reconciliation, --patient-name is written into the files: give it as Family^Given")
        }
        return Reconciliation(patientID: patientID, issuerOfPatientID: configuration.reconciliation.issuerOfPatientID,
                              patientName: patientName, accessionNumber: accession,
                              modifyingSystem: "kiosk-agent \(KioskAgentVersion.string)")
    }
}
