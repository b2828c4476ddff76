import AgentConfiguration
import Delivery
import Foundation
import IngestPipeline
import PortalProtocol
import PortalStore
import Protector
import SessionReport

/// Runs a batch's media through the pipeline a disc goes through (media helper, Protector, scanner, identity
/// check, spool, sender), against the patient the batch belongs to, and merges the sessions into one report.
struct BatchProtection {
    let configuration: Configuration
    let destination: Destination
    let stateDirectory: StateDirectory
    let engines: [any MalwareEngine]
    let ledger: any DeliveryLedger
    let worker: String
    let modifyingSystem: String

    /// What the pipeline is told about the patient: whom to compare with, what to coerce to, and the desk's override.
    struct Identity {
        var expected: IdentityCheck?
        var reconciliation: Reconciliation?
        var override: String?
    }

    /// The registered patient (or, for a kiosk, the patient named at the desk) as the pipeline's expectations.
    /// With reconciliation on, images are compared by name and birth date and delivered under the hospital's ID
    /// (IHE IRWF); off, a foreign Patient ID is a mismatch and the study is held. A run a reviewer decided always
    /// coerces: what a person has said belongs to the patient goes to the PACS under the patient's identifiers.
    /// The coercion's modification time is the batch's, so every run of it rebuilds the same bytes.
    func identity(for batch: WorkerBatch, registered: RegisteredPatient?) -> Identity {
        let owner = batch.owner
        var patientID: String?, issuer: String?, name: String?, birthDate: String?, override: String?
        if let registered {
            patientID = registered.patientID
            issuer = registered.issuer.isEmpty ? configuration.reconciliation.issuerOfPatientID : registered.issuer
            name = registered.name
            birthDate = registered.birthDate
        }
        if case let .kiosk(_, _, manifest) = owner, let manifest {
            let desk = manifest.report.value.expectedPatient
            patientID = patientID ?? desk?.id
            name = name ?? desk?.name
            birthDate = birthDate ?? desk?.birthDate
            issuer = issuer ?? configuration.reconciliation.issuerOfPatientID
            if case .override(let reason) = manifest.identityDecision { override = "kiosk \(manifest.kiosk): \(reason)" }
        }
        // A reviewer's decision replaces the desk's: an approval is the reviewer's override; a reassignment has none.
        if let review = batch.review { override = review.override }
        let reconcile = (configuration.reconciliation.enabled || batch.review != nil) && patientID != nil
        let compared = Report.ExpectedPatient(id: reconcile ? nil : patientID, name: name, birthDate: birthDate)
        let expected = (compared.id ?? compared.name ?? compared.birthDate) == nil ? nil : IdentityCheck(expected: compared)
        // The name is coerced only when it is in DICOM form; a desk may have typed "Given Family".
        var reconciliation = reconcile
            ? Reconciliation(patientID: patientID, issuerOfPatientID: issuer, patientName: name.flatMap { $0.contains("^") ? $0 : nil },
                             modifyingSystem: modifyingSystem)
            : nil
        reconciliation?.modificationDate = batch.createdAt
        return Identity(expected: expected, reconciliation: reconciliation, override: override)
    }

    /// One pipeline session per medium; the batch's report is their union.
    func run(_ media: [(source: String, label: String)], batch: UUID, identity: Identity) async throws -> (Report, ExitStatus) {
        let protector = Protector(policy: ProtectorSetup.policy(configuration, reconciliation: identity.reconciliation), engines: engines)
        var merged: Report?
        var worst = ExitStatus.delivered
        for (index, medium) in media.enumerated() {
            var job = IngestJob(source: medium.source, destination: destination, configuration: configuration, stateDirectory: stateDirectory,
                                protector: protector, expected: identity.expected, identityOverride: identity.override, callingAE: nil)
            job.actor = worker
            job.ledger = ledger
            job.mediaKind = medium.source.hasSuffix(".zip") ? "file" : "directory"
            job.sessionID = "\(batch.uuidString.lowercased())-\(index + 1)"
            let (report, exit, _, _) = try await job.run(progress: nil)
            worst = max(worst, exit)
            merged = merged.map { BatchProtection.merge($0, report, label: medium.label) } ?? BatchProtection.relabel(report, label: medium.label)
        }
        var result = merged ?? Report(source: .init(path: "upload", filesystem: "upload", label: "empty batch"))
        result.sessionID = batch.uuidString.lowercased()
        return (result, worst)
    }

    /// The report names the upload, not the worker's scratch path.
    static func relabel(_ report: Report, label: String) -> Report {
        var report = report
        report.source = .init(path: "upload:" + label, filesystem: report.source.filesystem, label: label)
        return report
    }

    static func merge(_ into: Report, _ other: Report, label: String) -> Report {
        var merged = into
        let prefix = label + "/"
        merged.files += other.files.map { file in
            var file = file
            file.path = prefix + file.path
            return file
        }
        for study in other.studies {
            if let index = merged.studies.firstIndex(where: { $0.studyInstanceUID == study.studyInstanceUID }) {
                merged.studies[index].instances += study.instances
                if study.identity == .mismatch { merged.studies[index].identity = .mismatch }
            } else {
                merged.studies.append(study)
            }
        }
        merged.media.findings += other.media.findings
        var totals = merged.totals
        let add = other.totals
        totals.files += add.files; totals.dicom += add.dicom; totals.clean += add.clean; totals.disarmed += add.disarmed
        totals.rejected += add.rejected; totals.discarded += add.discarded; totals.delivered += add.delivered
        if let routine = add.routineCleanup { totals.routineCleanup = (totals.routineCleanup ?? 0) + routine }
        merged.totals = totals
        merged.source = .init(path: "upload", filesystem: "upload", label: "\(into.source.label), \(label)")
        merged.finishedAt = other.finishedAt
        return merged
    }
}
