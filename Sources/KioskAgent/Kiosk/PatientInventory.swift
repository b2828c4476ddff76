import DICOMCore
import Foundation
import Intake
import MediaReader
import Protector

/// The patients on a medium, for the operator to confirm before anything is imported: every DICOM
/// file's header is read (values over 1 KiB stay on the media), never the DICOMDIR alone — a
/// DICOMDIR can leave out another patient's images. Files that do not parse are skipped here; the
/// Protector reports them later.
enum PatientInventory {
    struct Result {
        var patients: [SessionMachine.Patient]
        var dicomFiles: Int
        var bytes: Int64
    }

    static func read(_ path: String, configuration: Configuration) throws(MediaError) -> Result {
        let opened = try MediaSource.open(path: path)
        var limits = WalkLimits()
        limits.maxDepth = configuration.maxDirectoryDepth
        limits.maxEntries = configuration.maxEntries
        limits.maxTotalBytes = configuration.maxTotalBytes
        limits.maxFileSize = configuration.maxFileSize
        let inventory = MediaInventory(volume: opened.volume, limits: limits)
        var options = ParsingOptions()
        options.inlineValueLimit = 1024
        options.maxDepth = configuration.maxNestingDepth
        options.maxElements = configuration.maxElements
        var patients: [String: (SessionMachine.Patient, Set<String>)] = [:]
        var order: [String] = []
        var count = 0
        var bytes: Int64 = 0
        for entry in inventory.files {
            guard let file = try? opened.volume.open(entry),
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
                patients[key] = (SessionMachine.Patient(id: summary.patientID, name: summary.patientName,
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
