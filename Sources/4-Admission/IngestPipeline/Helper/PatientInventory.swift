import AgentConfiguration
import DICOMCore
import Foundation
import HelperProtocol
import Intake
import MediaReader
import Protector

/// The patients on a medium, for the operator to confirm before anything is imported: every DICOM
/// file's header is read (values over 1 KiB stay on the media), never the DICOMDIR alone — a
/// DICOMDIR can leave out another patient's images. Files that do not parse are skipped here; the
/// Protector reports them later.
public enum PatientInventory {
    public typealias Result = HelperPatients

    /// Reads the medium in the sandboxed media helper (issue 7): this process parses nothing.
    public static func read(_ path: String, configuration: Configuration) throws(MediaError) -> Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiosk-agent-inventory-\(UUID().uuidString)")
        let helper: HelperProcess
        do { helper = try HelperProcess.start(source: path, scratch: scratch) } catch {
            throw (error as? MediaError) ?? .unsupported("\(error)")
        }
        defer { helper.stop(grace: 2) }
        do {
            var job = MediaHelperJob.make(path, configuration, nil, scratch: helper.scratch)
            job.mode = .patients
            try helper.commands.send(.job, job)
            while let frame = try helper.nextEvent(stall: Double(configuration.sandbox.stallSeconds)) {
                switch frame.kind {
                case .failed: throw MediaError.unsupported(try frame.decode(HelperFailure.self).finding.detail)
                case .patients: return try frame.decode(Result.self)
                case .opened, .inventory, .progress: continue
                default: throw HelperProtocolError.unexpected("\(frame.kind)")
                }
            }
        } catch let error as MediaError {
            throw error
        } catch {
            throw .unsupported("the media reader failed: \(error)")
        }
        throw .unsupported("the media reader \(helper.stop(grace: 2)) before it listed the patients")
    }

    /// In the helper: every DICOM file's header, values over 1 KiB left on the media.
    public static func collect(_ volume: any Volume, _ files: [MediaEntry], parsing: ParsingOptions) -> Result {
        var options = parsing
        options.inlineValueLimit = 1024
        var patients: [String: (HelperPatients.Patient, Set<String>)] = [:]
        var order: [String] = []
        var count = 0
        var bytes: Int64 = 0
        for entry in files {
            Faults.trigger(at: entry.path)
            guard let file = try? volume.open(entry),
                  let prefix = try? file.read(at: 0, count: ContentClassifier.prefixLength),
                  ContentClassifier.classify(name: entry.path.name, prefix: prefix).kind == .dicom,
                  let parsed = try? DICOMReader.read(MediaByteSource(file), options: options) else { continue }
            let summary = InstanceSummary(parsed)
            guard summary.sopClassUID != "1.2.840.10008.1.3.10" else { continue }   // the DICOMDIR itself
            count += 1
            bytes += entry.size
            let key = [summary.patientID, PersonName.fold(summary.patientName), summary.birthDate].joined(separator: "\u{0}")
            if patients[key] == nil {
                order.append(key)
                patients[key] = (HelperPatients.Patient(id: summary.patientID, name: summary.patientName,
                                                        birthDate: summary.birthDate, studies: 0), [])
            }
            patients[key]!.1.insert(summary.studyInstanceUID)
        }
        return Result(patients: order.map { key in
            var patient = patients[key]!.0
            patient.studies = patients[key]!.1.count
            return patient
        }, dicomFiles: count, bytes: bytes)
    }
}
