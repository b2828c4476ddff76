import Crypto
import DICOMCore
import Delivery
import Foundation
import Intake
import MediaReader
import Protector
import SessionReport

/// One run of `ingest`: media → classification → Protector → archive or spool (→ destination) → report.
///
/// The task running `run()` owns the volume and reads it sequentially (optical drives hate
/// seeking); the bytes of each DICOM file go to a bounded window of child tasks that parse,
/// rebuild and stage them in parallel. Files larger than `inMemoryFileLimit` are streamed from
/// the media on the owning task instead, so memory stays flat whatever the disc holds.
final class IngestSession {
    struct Settings {
        var sourcePath: String
        var outbox: Outbox
        /// Description of the destination, for the report.
        var destination: String
        /// Sends spooled instances while the disc is read, for network destinations.
        var drainer: SpoolDrainer?
        var expected: IdentityCheck?
        /// Staff's recorded reason to deliver studies whose patient does not match (`--override-identity`).
        var identityOverride: String?
        var configuration: Configuration
        var stateDirectory: URL
        var sessionID: String
        var protector: Protector
        var progress: (any IngestProgress)?
    }

    let settings: Settings
    private var records: [FileRecord?] = []
    private var summaries: [Int: InstanceSummary] = [:]
    /// The patient as each instance's media had it (differs from `summaries` after reconciliation).
    private var mediaSummaries: [Int: InstanceSummary] = [:]
    private var directories: [(path: MediaPath, directory: DICOMDirectory)] = []
    private var pending: [(index: Int, staged: Outbox.Staged)] = []
    private var report: Report
    private var worst = ExitStatus.delivered

    init(settings: Settings) {
        self.settings = settings
        report = Report(source: .init(path: settings.sourcePath, filesystem: "unknown", label: ""),
                        expectedPatient: settings.expected?.expected)
        report.destination = settings.destination
        report.identityOverride = settings.identityOverride
    }

    func run() async -> (Report, ExitStatus) {
        let opened: MediaSource.Opened
        do {
            opened = try MediaSource.open(path: settings.sourcePath)
        } catch {
            report.media.findings.append(error.finding(at: .root))
            return (report, .mediaUnreadable)
        }
        let volume = opened.volume
        report.source.filesystem = volume.filesystem.rawValue
        report.media.findings += opened.notes.map { Finding("media.probe", .info, $0) }

        var limits = WalkLimits()
        limits.maxDepth = settings.configuration.maxDirectoryDepth
        limits.maxEntries = settings.configuration.maxEntries
        limits.maxTotalBytes = settings.configuration.maxTotalBytes
        limits.maxFileSize = settings.configuration.maxFileSize
        let inventory = MediaInventory(volume: volume, limits: limits)
        // FAT and exFAT keep their label in the root directory: known only after the walk.
        report.source.label = volume.label
        report.media.findings += inventory.findings
        // A limit that left files unread is never a silent success: those files were refused.
        if inventory.findings.contains(where: { $0.code == "media.limit-exceeded" }) { worst = max(worst, .someRejected) }
        records = Array(repeating: nil, count: inventory.files.count)
        let total = inventory.files.reduce(0) { $0 + $1.size }
        guard haveRoom(for: total) else {
            finishTotals()
            return (report, worst)
        }
        settings.progress?.start(files: inventory.files.count, bytes: total)

        let reading = ReadingFlag()
        let sending = settings.drainer.map { drainer in
            Task {
                // Sends what is committed while the rest of the disc is read; after the last file,
                // retries for up to `wait_seconds` before leaving the rest to the spool.
                try await drainer.drain(moreComing: { reading.isReading }, deadline: { reading.deadline })
            }
        }
        await process(inventory.files, on: volume)
        flushOutbox()
        reading.finish(wait: Double(settings.configuration.delivery.waitSeconds))
        if let sending {
            do { try await sending.value } catch {
                report.media.findings.append(Finding("delivery.spool-error", .high, "the spool could not be drained: \(error)"))
            }
            updateDeliveries()
        }
        crossCheckDirectories(inventory)
        buildStudies()
        finishTotals()
        settings.progress?.finish()
        return (report, worst)
    }

    // MARK: reading and fanning out

    /// Files in flight: enough that workers never starve while this task reads or commits a batch
    /// (syncfs), bounded in bytes so memory stays flat whatever the files' sizes.
    static let windowBytes: Int64 = 128 << 20

    private func process(_ files: [MediaEntry], on volume: any Volume) async {
        let window = max(2, settings.configuration.workers == 0
            ? ProcessInfo.processInfo.activeProcessorCount * 4 : settings.configuration.workers * 4)
        let worker = Worker(settings: settings)
        await withTaskGroup(of: Worker.Result.self) { group in
            var inFlight = 0
            var inFlightBytes: Int64 = 0
            for (index, entry) in files.enumerated() {
                settings.progress?.advance(file: entry)
                guard let bytes = readCandidate(index, entry, volume) else { continue }
                switch bytes {
                case let .inMemory(data):
                    while inFlight > 0, inFlight >= window || inFlightBytes + Int64(data.count) > IngestSession.windowBytes,
                          let done = await group.next() {
                        accept(done)
                        inFlight -= 1
                        inFlightBytes -= done.record.size
                    }
                    group.addTask { worker.process(index: index, entry: entry, bytes: data) }
                    inFlight += 1
                    inFlightBytes += Int64(data.count)
                case let .streamed(file):
                    accept(worker.process(index: index, entry: entry, streaming: file))
                }
            }
            for await done in group { accept(done) }
        }
    }

    private enum Candidate {
        case inMemory([UInt8])
        case streamed(any MediaFile)
    }

    /// Reads a file and classifies it by content. Files up to `inMemoryFileLimit` are read whole
    /// in one request (sequential on the media); larger ones only their first bytes. Non-DICOM is
    /// recorded as discarded here and never leaves this function.
    private func readCandidate(_ index: Int, _ entry: MediaEntry, _ volume: any Volume) -> Candidate? {
        do {
            let file = try volume.open(entry)
            let whole = entry.size <= settings.configuration.inMemoryFileLimit
            let bytes = try file.read(at: 0, count: whole ? Int(entry.size) : ContentClassifier.prefixLength)
            let classification = ContentClassifier.classify(name: entry.path.name,
                                                            prefix: Array(bytes.prefix(ContentClassifier.prefixLength)))
            guard classification.kind == .dicom else {
                records[index] = try discarded(entry, file, classification, whole ? bytes : nil)
                return nil
            }
            return whole ? .inMemory(bytes) : .streamed(file)
        } catch {
            records[index] = FileRecord(path: entry.path.description, size: entry.size, kind: .other, verdict: .rejected,
                                        findings: [error.finding(at: entry.path)])
            worst = max(worst, .someRejected)
            return nil
        }
    }

    /// Non-DICOM content: listed with its hash (for security teams to look up), never copied on.
    private func discarded(_ entry: MediaEntry, _ file: any MediaFile, _ classification: ContentClassifier.Classification,
                           _ bytes: [UInt8]?) throws(MediaError) -> FileRecord {
        var findings: [Finding] = []
        switch classification.kind {
        case .executable:
            findings.append(Finding("executable.discarded", .medium, "\(classification.what) was not imported"))
        case .autorun:
            findings.append(Finding("autorun.discarded", .medium, "autorun.inf was not imported (it would start a program on Windows)"))
        default:
            findings.append(Finding("content.discarded", .info, "\(classification.what) is not DICOM and was not imported"))
        }
        var sha: String?
        if let bytes {
            sha = SHA256.hash(data: bytes).hexString
        } else if entry.size <= IngestSession.discardedHashLimit {
            sha = try IngestSession.sha256(of: file)
        }
        return FileRecord(path: entry.path.description, size: entry.size, sha256: sha, kind: classification.kind,
                          verdict: .discarded, findings: findings)
    }

    static let discardedHashLimit: Int64 = 64 << 20

    static func sha256(of file: any MediaFile) throws(MediaError) -> String {
        var hasher = SHA256()
        var offset: Int64 = 0
        let chunk = 1 << 20
        while offset < file.entry.size {
            let bytes = try file.read(at: offset, count: chunk)
            if bytes.isEmpty { break }
            hasher.update(data: bytes)
            offset += Int64(bytes.count)
        }
        return hasher.finalize().hexString
    }

    // MARK: results

    private func accept(_ result: Worker.Result) {
        let record = result.record
        if let summary = result.summary { summaries[result.index] = summary }
        if let original = result.mediaSummary { mediaSummaries[result.index] = original }
        if let directory = result.directory { directories.append((result.path, directory)) }
        switch record.verdict {
        case .rejected: worst = max(worst, .someRejected)
        default: break
        }
        if result.held { worst = max(worst, .identityMismatch) }
        if let staged = result.staged {
            pending.append((result.index, staged))
        }
        records[result.index] = record
        if result.storageFull { worst = max(worst, .noRoom) }
        if pending.count >= IngestSession.commitBatch { flushOutbox() }
    }

    static let commitBatch = 64

    /// Makes a batch of staged files durable and indexed; marks each record stored, spooled or failed.
    private func flushOutbox() {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll()
        do {
            let outcomes = try settings.outbox.commit(batch.map(\.staged))
            for (item, outcome) in zip(batch, outcomes) {
                switch outcome {
                case .queued:
                    records[item.index]?.delivery = .spooled
                case .stored:
                    records[item.index]?.delivery = .stored
                case .alreadyPresent:
                    records[item.index]?.delivery = .stored
                    records[item.index]?.findings.append(settings.drainer == nil
                        ? Finding("delivery.already-archived", .info, "this instance was already in the archive with identical content")
                        : Finding("delivery.already-delivered", .info, "the destination already acknowledged this instance with identical content"))
                case .conflict:
                    records[item.index]?.delivery = .failed
                    records[item.index]?.findings.append(Finding("delivery.uid-conflict", .high, settings.drainer == nil
                        ? "the archive already holds a different file with this SOP Instance UID; the archived one was kept"
                        : "a different file with this SOP Instance UID was already delivered to this destination; it was not sent again"))
                    worst = max(worst, .someRejected)
                }
            }
        } catch {
            settings.outbox.discard(batch.map(\.staged))
            let full = (error as? StagingError)?.isDiskFull == true
            for item in batch {
                records[item.index]?.delivery = .failed
                records[item.index]?.findings.append(Finding(full ? "delivery.disk-full" : "delivery.archive-error", .high,
                                                             "writing to the state directory failed: \(error)"))
            }
            worst = max(worst, full ? .noRoom : .deliveryPending)
        }
    }

    /// Before anything is read: the state directory must have room for what the disc could add.
    private func haveRoom(for bytes: Int64) -> Bool {
        do {
            let room = try DiskRoom.check(settings.outbox.root, estimate: bytes, reserve: settings.configuration.delivery.reserveBytes)
            if room.isEnough { return true }
            report.media.findings.append(Finding("delivery.disk-full", .critical,
                "the state directory has no room for this disc (\(room)); nothing was read or delivered, and what is already spooled is untouched"))
        } catch {
            report.media.findings.append(Finding("delivery.disk-full", .critical, "cannot tell the free space of the state directory: \(error)"))
        }
        worst = max(worst, .noRoom)
        return false
    }

    /// After draining: each spooled record says whether the destination acknowledged it.
    private func updateDeliveries() {
        guard case let .spool(spool, destination, _) = settings.outbox,
              let rows = try? spool.instances(destination: destination, session: settings.sessionID) else { return }
        let states = Dictionary(rows.map { ($0.sopInstanceUID, $0) }, uniquingKeysWith: { first, _ in first })
        for index in records.indices {
            guard let record = records[index], record.delivery == .spooled, let uid = record.sopInstanceUID,
                  let row = states[uid] else { continue }
            switch row.state {
            case .stored:
                records[index]?.delivery = .stored
                if let detail = row.lastError {
                    records[index]?.findings.append(Finding("delivery.warning", .low, detail))
                }
            case .failed:
                records[index]?.delivery = .failed
                let code = row.failureCode ?? "delivery.refused"
                records[index]?.findings.append(Finding(code, code.hasPrefix("pacs.") ? .medium : .high,
                    (row.lastError ?? "the destination refused it") + "; kept in the spool (kiosk-agent spool retry)"))
                worst = max(worst, .someRejected)
            case .pending, .sending:
                records[index]?.findings.append(Finding("delivery.pending", .medium,
                    "not yet acknowledged after \(row.attempts) attempt(s)" + (row.lastError.map { ": \($0)" } ?? "")
                    + "; safe in the spool, retried automatically"))
                worst = max(worst, .deliveryPending)
            }
        }
    }

    // MARK: DICOMDIR versus media

    private func crossCheckDirectories(_ inventory: MediaInventory) {
        let dicomPaths = Set(records.compactMap { record -> String? in
            guard let record, record.kind == .dicom else { return nil }
            return record.path.uppercased()
        })
        let check = FileSetCheck(directories: directories, inventory: inventory, dicomPaths: dicomPaths)
        report.media.findings += check.findings
        for index in records.indices {
            guard let record = records[index], record.kind == .dicom, check.unlisted.contains(record.path.uppercased()) else { continue }
            records[index]?.findings.append(Finding("dicomdir.unlisted-file", .low,
                "not listed in the DICOMDIR; found by walking the media"))
        }
    }

    // MARK: studies and totals

    private func buildStudies() {
        var studies: [String: Study] = [:]
        var series: [String: Set<String>] = [:]
        var order: [String] = []
        for (index, summary) in summaries.sorted(by: { $0.key < $1.key }) {
            guard let record = records[index], record.kind == .dicom, record.verdict != .rejected else { continue }
            let key = summary.studyInstanceUID
            if studies[key] == nil {
                order.append(key)
                let decision = settings.expected?.evaluate(mediaSummaries[index] ?? summary)
                studies[key] = Study(studyInstanceUID: key, patientName: summary.patientName, patientID: summary.patientID,
                                     birthDate: summary.birthDate, description: summary.studyDescription, modalities: [],
                                     instances: 0, identity: decision?.result ?? .unverified, series: 0)
                studies[key]?.identityScore = decision?.score
                studies[key]?.identityReasons = decision?.reasons
                studies[key]?.sopClasses = [:]
                studies[key]?.institutions = []
                studies[key]?.transferSyntaxes = []
                studies[key]?.studyDate = summary.studyDate.isEmpty ? nil : summary.studyDate
            }
            studies[key]!.instances += 1
            studies[key]!.sopClasses![summary.sopClassUID, default: 0] += 1
            // The facility and syntax as on the media (before reconciliation or conversion).
            let original = mediaSummaries[index] ?? summary
            let institution = original.institutionName.trimmingCharacters(in: .whitespaces)
            if !institution.isEmpty && !studies[key]!.institutions!.contains(institution) { studies[key]!.institutions!.append(institution) }
            if !original.transferSyntaxUID.isEmpty && !studies[key]!.transferSyntaxes!.contains(original.transferSyntaxUID) {
                studies[key]!.transferSyntaxes!.append(original.transferSyntaxUID)
            }
            if !summary.modality.isEmpty && !studies[key]!.modalities.contains(summary.modality) {
                studies[key]!.modalities.append(summary.modality)
            }
            series[key, default: []].insert(summary.seriesInstanceUID)
        }
        report.studies = order.compactMap { key in
            guard var study = studies[key] else { return nil }
            study.series = series[key]?.count ?? 0
            return study
        }
        let instances = mediaSummaries.filter { records[$0.key]?.kind == .dicom }.map(\.value)
        if let several = PatientGrouping.finding(instances) { report.media.findings.append(several) }
        if settings.expected == nil && !report.studies.isEmpty {
            report.media.findings.append(Finding("identity.unverified", .info,
                "no expected patient was given; identity was not checked"))
        }
    }

    private func finishTotals() {
        report.files = records.compactMap { $0 }
        var totals = Report.Totals()
        for file in report.files {
            totals.files += 1
            if file.kind == .dicom { totals.dicom += 1 }
            switch file.verdict {
            case .clean: totals.clean += 1
            case .disarmed: totals.disarmed += 1
            case .rejected: totals.rejected += 1
            case .discarded: totals.discarded += 1
            }
            if file.delivery == .stored { totals.delivered += 1 }
        }
        report.totals = totals
        if report.files.isEmpty && report.media.findings.contains(where: { $0.severity >= .high }) {
            worst = max(worst, .mediaUnreadable)
        }
    }
}

extension Digest {
    var hexString: String {
        var text = ""
        text.reserveCapacity(64)
        for byte in self {
            text += String(byte >> 4, radix: 16) + String(byte & 0x0F, radix: 16)
        }
        return text
    }
}

/// Whether the disc is still being read (more instances may reach the spool), and after that how
/// long the drainer keeps retrying.
final class ReadingFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var end: Date?

    var isReading: Bool { lock.withLock { end == nil } }

    var deadline: Date { lock.withLock { end ?? .distantFuture } }

    func finish(wait seconds: Double) { lock.withLock { end = Date().addingTimeInterval(seconds) } }
}
