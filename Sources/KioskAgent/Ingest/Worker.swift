import Crypto
import DICOMCore
import Delivery
import Foundation
import MediaReader
import Protector
import SessionReport

/// The per-file work that runs in parallel: hash, Protector, identity, stage into the archive or
/// quarantine. Holds only Sendable state; never touches the volume.
struct Worker: Sendable {
    let outbox: Outbox
    let protector: Protector
    let expected: IdentityCheck?
    let identityOverride: String?
    let quarantine: URL
    let sessionID: String
    let parsing: ParsingOptions

    init(settings: IngestSession.Settings) {
        outbox = settings.outbox
        protector = settings.protector
        expected = settings.expected
        identityOverride = settings.identityOverride
        quarantine = settings.stateDirectory.appendingPathComponent("quarantine").appendingPathComponent(settings.sessionID)
        sessionID = settings.sessionID
        parsing = settings.protector.policy.parsing
    }

    struct Result: Sendable {
        let index: Int
        let path: MediaPath
        let record: FileRecord
        let summary: InstanceSummary?
        let staged: Outbox.Staged?
        let directory: DICOMDirectory?
        /// Not delivered because the patient does not match the one expected at the desk.
        let held: Bool
        /// The patient as the media had it (before reconciliation).
        var mediaSummary: InstanceSummary? = nil
        /// The state directory ran out of room while this file was written.
        var storageFull = false
    }

    func process(index: Int, entry: MediaEntry, bytes: [UInt8]) -> Result {
        let sha = SHA256.hash(data: bytes).hexString
        return process(index: index, entry: entry, source: InMemoryByteSource(bytes), sha256: sha,
                       original: { bytes })
    }

    /// Large files: read through the volume on the task that owns it, twice (once to hash the
    /// original, once to parse and rebuild), never held whole in memory.
    func process(index: Int, entry: MediaEntry, streaming file: any MediaFile) -> Result {
        let sha: String
        do { sha = try IngestSession.sha256(of: file) } catch {
            let record = FileRecord(path: entry.path.description, size: entry.size, kind: .dicom, verdict: .rejected,
                                    findings: [error.finding(at: entry.path)])
            return Result(index: index, path: entry.path, record: record, summary: nil, staged: nil, directory: nil, held: false)
        }
        return process(index: index, entry: entry, source: MediaByteSource(file), sha256: sha, original: nil)
    }

    private func process(index: Int, entry: MediaEntry, source: any ByteSource, sha256: String,
                         original: (() -> [UInt8])?) -> Result {
        let protection = protector.protect(source)
        var record = FileRecord(path: entry.path.description, size: entry.size, sha256: sha256, kind: .dicom,
                                verdict: protection.verdict, findings: protection.findings,
                                sopInstanceUID: protection.summary?.sopInstanceUID.nonEmpty,
                                studyInstanceUID: protection.summary?.studyInstanceUID.nonEmpty)
        // The report lists the parts the rebuild did something with; `inspect` shows them all.
        let changed = protection.parts.filter { $0.action != .kept }
        if !changed.isEmpty { record.parts = changed }
        var directory: DICOMDirectory?
        if protection.isDirectory, let file = protection.rebuilt {
            record.kind = .dicomdir
            record.verdict = .discarded
            do { directory = try DICOMDirectory.parse(file, source: source, options: parsing) } catch {
                record.findings.append(Finding("dicomdir.unreadable", .medium, "the DICOMDIR could not be read: \(error)"))
            }
            return Result(index: index, path: entry.path, record: record, summary: nil, staged: nil, directory: directory, held: false, mediaSummary: protection.mediaSummary)
        }
        guard protection.verdict != .rejected, let summary = protection.summary else {
            quarantineOriginal(entry, source: source, original: original, record: &record)
            return Result(index: index, path: entry.path, record: record, summary: protection.summary, staged: nil,
                          directory: nil, held: false, mediaSummary: protection.mediaSummary)
        }
        if let expected {
            // The patient as the media has it, before any reconciliation to local identifiers.
            let decision = expected.evaluate(protection.mediaSummary ?? summary)
            record.findings += decision.findings
            if decision.result == .mismatch, let reason = identityOverride {
                record.findings.append(Finding("identity.override", .high,
                    "delivered although the patient does not match, by explicit override: \(reason)"))
            } else if decision.result == .mismatch {
                hold(protection, source: source, summary: summary, record: &record)
                return Result(index: index, path: entry.path, record: record, summary: summary, staged: nil,
                              directory: nil, held: true, mediaSummary: protection.mediaSummary)
            }
        }
        do {
            let staged = try outbox.stage(summary, sourceSHA256: sha256, sessionID: sessionID) { sink in
                try protector.write(protection, source: source, to: sink)
            }
            return Result(index: index, path: entry.path, record: record, summary: summary, staged: staged,
                          directory: nil, held: false, mediaSummary: protection.mediaSummary)
        } catch let error as StagingError {
            // Our disk, not the file: the file is fine and nothing is quarantined.
            record.delivery = .failed
            record.findings.append(Finding(error.isDiskFull ? "delivery.disk-full" : "delivery.spool-error", .high,
                                           "the rebuilt file could not be written to the state directory: \(error)"))
            return Result(index: index, path: entry.path, record: record, summary: summary, staged: nil,
                          directory: nil, held: false, mediaSummary: protection.mediaSummary, storageFull: error.isDiskFull)
        } catch {
            record.verdict = .rejected
            record.findings.append(Finding("structure.rebuild-failed", .high, "the file could not be rebuilt: \(error)"))
            quarantineOriginal(entry, source: source, original: original, record: &record)
            return Result(index: index, path: entry.path, record: record, summary: summary, staged: nil,
                          directory: nil, held: false, mediaSummary: protection.mediaSummary)
        }
    }

    /// Rejected files: the original bytes, read-only, for forensics. Never inside the archive.
    private func quarantineOriginal(_ entry: MediaEntry, source: any ByteSource, original: (() -> [UInt8])?,
                                    record: inout FileRecord) {
        let target = quarantine.appendingPathComponent("original").appendingPathComponent(entry.path.components.joined(separator: "/"))
        do {
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            let bytes = try original?() ?? source.read(at: 0, count: Int(min(source.count, Int64(Int.max))))
            try Data(bytes).write(to: target)
            try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: target.path)
        } catch {
            record.findings.append(Finding("quarantine.error", .high, "the original could not be kept in quarantine: \(error)"))
        }
    }

    /// Identity mismatch: the rebuilt file waits in quarantine for review; nothing is delivered.
    private func hold(_ protection: Protection, source: any ByteSource, summary: InstanceSummary, record: inout FileRecord) {
        let target = quarantine.appendingPathComponent("held").appendingPathComponent(summary.sopInstanceUID + ".dcm")
        do {
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: target.path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown)
            }
            let handle = try FileHandle(forWritingTo: target)
            defer { try? handle.close() }
            try protector.write(protection, source: source) { try handle.write(contentsOf: $0) }
        } catch {
            record.findings.append(Finding("quarantine.error", .high, "the held file could not be written: \(error)"))
        }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

extension ArchivedInstance {
    init(_ summary: InstanceSummary, sourceSHA256: String, sessionID: String) {
        self.init(sopInstanceUID: summary.sopInstanceUID, sopClassUID: summary.sopClassUID,
                  studyInstanceUID: summary.studyInstanceUID, seriesInstanceUID: summary.seriesInstanceUID,
                  patientID: summary.patientID, patientName: summary.patientName, birthDate: summary.birthDate,
                  modality: summary.modality, studyDate: summary.studyDate, studyDescription: summary.studyDescription,
                  transferSyntaxUID: summary.transferSyntaxUID, size: 0, sha256: "", sourceSHA256: sourceSHA256,
                  sessionID: sessionID)
    }
}
