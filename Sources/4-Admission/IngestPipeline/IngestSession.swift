import AgentConfiguration
import CLinux
import Delivery
import Foundation
import HelperProtocol
import MediaReader
import Protector
import SessionReport

/// One run of `ingest`: media → classification → Protector → archive or spool (→ destination) → report.
///
/// The medium itself is read and parsed by the sandboxed media helper (`MediaHelper`, issue 7):
/// this side starts it, answers its scan requests with the engines, admits each protected file
/// (identity, staging, quarantine) as its bytes arrive over the pipe, and writes the report. A
/// helper that crashes, stalls or breaks the protocol fails the medium with a `media.helper-*`
/// finding; what it had finished before is kept. `inspect` runs one per argument (`Inspection`).
public final class IngestSession {
    public struct Settings {
        public var sourcePath: String
        /// Where admitted instances go: the archive, or the spool for a network destination.
        public var sink: any DeliverySink
        /// Description of the destination, for the report.
        public var destination: String
        /// Sends spooled instances while the disc is read, for network destinations.
        public var drainer: SpoolDrainer?
        public var expected: IdentityCheck?
        /// Staff's recorded reason to deliver studies whose patient does not match (`--override-identity`).
        public var identityOverride: String?
        public var configuration: Configuration
        public var stateDirectory: StateDirectory
        public var sessionID: String
        public var protector: Protector
        public var progress: (any IngestProgress)?
        /// `inspect` (`Inspection`): every part of every file is listed, nothing is quarantined, no
        /// studies are built, and the free space of the state directory is not a condition
        /// (nothing is kept there).
        public var inspect = false
        /// The source is one file to read as it is, never probed as an image (an `inspect` argument).
        public var oneFile = false
    }

    public let settings: Settings
    private var records: [FileRecord?] = []
    private var summaries: [Int: InstanceSummary] = [:]
    /// The patient as each instance's media had it, where it differs from `summaries` (after
    /// reconciliation) or there is no summary.
    private var mediaSummaries: [Int: InstanceSummary] = [:]
    /// One copy of the findings and part lists that repeat from file to file (every slice of a
    /// series has the same ones): the session holds a disc's records, not a disc's worth of copies.
    private var repeated = RepeatedLists()
    private var pending: [(index: Int, staged: StagedInstance)] = []
    private var report: Report
    private var worst = ExitStatus.delivered

    public init(settings: Settings) {
        self.settings = settings
        report = Report(source: .init(path: settings.sourcePath, filesystem: "unknown", label: ""),
                        expectedPatient: settings.expected?.expected)
        report.destination = settings.destination
        report.identityOverride = settings.identityOverride
    }

    public func run() async -> (Report, ExitStatus) {
        let helper: HelperProcess
        do {
            helper = try HelperProcess.start(source: settings.sourcePath, scratch: settings.stateDirectory.sandboxScratch(settings.sessionID))
        } catch let error as MediaError {
            report.media.findings.append(error.finding(at: .root))
            return (report, .mediaUnreadable)
        } catch {
            report.media.findings.append(Finding(.mediaHelperFailed, .critical, "\(error)"))
            return (report, .mediaUnreadable)
        }
        let scans = ScanService(engines: settings.protector.engines, replies: helper.commands, medium: helper.medium,
                                spill: settings.stateDirectory.temporary(settings.sessionID))
        let reading = ReadingFlag()
        let sending = TaskBox()
        nonisolated(unsafe) let session = self
        nonisolated(unsafe) var state = Conversation()
        // The conversation blocks on the pipe for the whole medium: on a thread of its own, not
        // one of the few threads Swift concurrency shares with the service, the drainer and NIO.
        let failure: (any Error)? = await OwnThread.run {
            do {
                try helper.commands.send(.job, MediaHelperJob.make(session.settings.sourcePath, session.settings.configuration,
                                                                   session.settings.protector, scratch: helper.scratch,
                                                                   mediumScans: helper.medium != nil, inspect: session.settings.inspect,
                                                                   oneFile: session.settings.oneFile))
                try session.converse(helper, scans, &state) {
                    // The disc is being read: send what is committed meanwhile; after the last file,
                    // retry for up to `wait_seconds` before leaving the rest to the spool.
                    sending.task = session.settings.drainer.map { drainer in
                        Task { try await drainer.drain(moreComing: { reading.isReading }, deadline: { reading.deadline }) }
                    }
                }
                return nil
            } catch {
                return error
            }
        }
        scans.finish()
        if let failure {
            helperFailed(helper.stop(grace: 2), failure, state)
        } else {
            helper.stop(grace: 10)
        }
        flushSink()
        // The pipeline's buffers are free now, spread over its threads' malloc arenas: hand them
        // back before the report is built, so the session's peak is the pipeline's alone.
        _ = malloc_trim(0)
        reading.finish(wait: Double(settings.configuration.delivery.waitSeconds))
        if let sending = sending.task {
            do { try await sending.value } catch {
                report.media.findings.append(Finding(.deliverySpoolError, .high, "the spool could not be drained: \(error)"))
            }
            updateDeliveries()
        }
        // Studies and patients are the delivery's business; inspect looks at files one by one.
        if !settings.inspect { buildStudies() }
        finishTotals()
        settings.progress?.finish()
        return (report, worst)
    }

    // MARK: the conversation with the helper

    private struct Conversation {
        var files: Int?
        var reported = Set<Int>()
        var lists = RepeatedListsReceived()
        /// The file the helper said it was reading last (for the finding when it fails).
        var current: String?
    }

    /// Runs until the helper says `done` (or `failed`); throws when it breaks off.
    private func converse(_ helper: HelperProcess, _ scans: ScanService, _ state: inout Conversation,
                          reading started: () -> Void) throws {
        let stall = Double(settings.configuration.sandbox.stallSeconds)
        let admission = Admission(settings: settings)
        let line = AdmissionLine(timeout: stall) { message, body in self.accept(try admission.admit(message, body: body)) }
        // Whatever ends the conversation, every file read so far is admitted before the session goes on.
        defer { line.close() }
        while true {
            // Silence while our engines scan for it is not a stall.
            guard let frame = try helper.nextEvent(stall: stall, excused: { scans.busy }) else {
                throw HelperProtocolError.unexpected("the media reader ended before it was done")
            }
            switch frame.kind {
            case .failed:
                try line.drain()
                report.media.findings.append(try frame.decode(HelperFailure.self).finding)
                worst = max(worst, .mediaUnreadable)
                return
            case .opened:
                let opened = try frame.decode(HelperOpened.self)
                report.source.filesystem = FilesystemType(rawValue: opened.filesystem)?.rawValue ?? "unknown"
                report.media.findings += opened.notes.map { Finding(.mediaProbe, .info, $0) }
            case .inventory:
                guard state.files == nil else { throw HelperProtocolError.unexpected("a second inventory") }
                let inventory = try frame.decode(HelperInventory.self)
                guard inventory.files >= 0, inventory.files <= settings.configuration.maxEntries, inventory.bytes >= 0 else {
                    throw HelperProtocolError.malformed("an inventory of \(inventory.files) files")
                }
                // FAT and exFAT keep their label in the root directory: known only after the walk.
                report.source.label = inventory.label
                report.media.findings += inventory.findings
                // A limit that left files unread is never a silent success: those files were refused.
                if inventory.findings.contains(where: { $0.code == .mediaLimitExceeded }) { worst = max(worst, .someRejected) }
                state.files = inventory.files
                records = Array(repeating: nil, count: inventory.files)
                guard haveRoom(for: inventory.bytes) else {
                    try helper.commands.send(.stop)
                    return
                }
                settings.progress?.start(files: inventory.files, bytes: inventory.bytes)
                try helper.commands.send(.proceed)
                started()
            case .progress:
                let progress = try frame.decode(HelperProgress.self)
                state.current = progress.path
                settings.progress?.advance(bytes: max(0, progress.size))
            case .record:
                let message = try state.lists.resolve(try frame.decode(HelperRecord.self))
                guard let files = state.files, (0..<files).contains(message.index), state.reported.insert(message.index).inserted else {
                    throw HelperProtocolError.malformed("a record for file \(message.index)")
                }
                try line.submit(message, reader: helper.events)
            case .scan:
                try scans.receive(try frame.decode(HelperScan.self), body: BodyStream(reader: helper.events, timeout: stall))
            case .fileSet:
                let check = try frame.decode(HelperFileSet.self)
                try line.drain()
                report.media.findings += check.findings
                for index in check.unlisted where records.indices.contains(index) && records[index]?.kind == .dicom {
                    records[index]?.findings.append(Finding(.dicomdirUnlistedFile, .low,
                        "not listed in the DICOMDIR; found by walking the media"))
                }
            case .done:
                try line.drain()
                return
            default:
                throw HelperProtocolError.unexpected("\(frame.kind)")
            }
        }
    }

    /// The helper crashed, was stopped, or broke the protocol: the medium fails, what was
    /// admitted before stays, and the report says where reading stopped.
    private func helperFailed(_ ending: HelperProcess.Ending, _ error: any Error, _ state: Conversation) {
        let missing = (state.files ?? 0) - state.reported.count
        let unread = state.files == nil ? "before the medium's contents were listed"
            : "\(missing) of \(state.files!) file(s) were not read" + (state.current.map { "; it was reading \($0)" } ?? "")
        let code: FindingCode, what: String
        switch error {
        case HelperProtocolError.timeout(let seconds):
            code = .mediaHelperTimeout
            what = "the media reader made no progress for \(Int(seconds)) s and was stopped"
        case HelperProtocolError.malformed, HelperProtocolError.unexpected:
            code = ending.isClean ? .mediaHelperProtocol : .mediaHelperCrashed
            what = ending.isClean ? "the media reader sent something invalid (\(error)) and was stopped" : "the media reader \(ending)"
        default:
            code = .mediaHelperCrashed
            what = "the media reader \(ending)"
        }
        let outcome = settings.inspect ? "It was not fully inspected." : "The medium is not fully imported; the kiosk carries on."
        report.media.findings.append(Finding(code, .critical, "\(what); \(unread). \(outcome)"))
        worst = max(worst, .mediaUnreadable)
    }

    // MARK: results

    private func accept(_ result: Admission.Result) {
        let record = result.record
        if let summary = result.summary { summaries[result.index] = summary }
        if let original = result.mediaSummary, original != result.summary { mediaSummaries[result.index] = original }
        switch record.verdict {
        case .rejected: worst = max(worst, .someRejected)
        default: break
        }
        if result.held { worst = max(worst, .identityMismatch) }
        if let staged = result.staged {
            pending.append((result.index, staged))
        }
        records[result.index] = repeated.shared(record)
        if result.storageFull { worst = max(worst, .noRoom) }
        if pending.count >= IngestSession.commitBatch { flushSink() }
    }

    public static let commitBatch = 64

    /// Makes a batch of staged files durable and indexed; marks each record stored, spooled or failed.
    private func flushSink() {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll()
        do {
            let outcomes = try settings.sink.commit(batch.map(\.staged))
            for (item, outcome) in zip(batch, outcomes) {
                switch outcome {
                case .queued:
                    records[item.index]?.delivery = .spooled
                case .stored:
                    records[item.index]?.delivery = .stored
                case .alreadyPresent:
                    records[item.index]?.delivery = .stored
                    records[item.index]?.findings.append(settings.drainer == nil
                        ? Finding(.deliveryAlreadyArchived, .info, "this instance was already in the archive with identical content")
                        : Finding(.deliveryAlreadyDelivered, .info, "the destination already acknowledged this instance with identical content"))
                case .conflict:
                    records[item.index]?.delivery = .failed
                    records[item.index]?.findings.append(Finding(.deliveryUIDConflict, .high, settings.drainer == nil
                        ? "the archive already holds a different file with this SOP Instance UID; the archived one was kept"
                        : "a different file with this SOP Instance UID was already delivered to this destination; it was not sent again"))
                    worst = max(worst, .someRejected)
                }
            }
        } catch {
            settings.sink.discard(batch.map(\.staged))
            let full = StagingError.isDiskFull(error)
            for item in batch {
                records[item.index]?.delivery = .failed
                records[item.index]?.findings.append(Finding(full ? .deliveryDiskFull : .deliveryArchiveError, .high,
                                                             "writing to the state directory failed: \(error)"))
            }
            worst = max(worst, full ? .noRoom : .deliveryPending)
        }
    }

    /// Before anything is read: the state directory must have room for what the disc could add.
    private func haveRoom(for bytes: Int64) -> Bool {
        if settings.inspect { return true }
        do {
            let room = try DiskRoom.check(settings.sink.root, estimate: bytes, reserve: settings.configuration.delivery.reserveBytes)
            if room.isEnough { return true }
            report.media.findings.append(Finding(.deliveryDiskFull, .critical,
                "the state directory has no room for this disc (\(room)); nothing was read or delivered, and what is already spooled is untouched"))
        } catch {
            report.media.findings.append(Finding(.deliveryDiskFull, .critical, "cannot tell the free space of the state directory: \(error)"))
        }
        worst = max(worst, .noRoom)
        return false
    }

    /// After draining: each spooled record says whether the destination acknowledged it.
    private func updateDeliveries() {
        guard let spooled = settings.sink as? SpoolSink,
              let rows = try? spooled.spool.instances(destination: spooled.destination, session: settings.sessionID) else { return }
        let states = Dictionary(rows.map { ($0.sopInstanceUID, $0) }, uniquingKeysWith: { first, _ in first })
        for index in records.indices {
            guard let record = records[index], record.delivery == .spooled, let uid = record.sopInstanceUID,
                  let row = states[uid] else { continue }
            switch row.state {
            case .stored:
                records[index]?.delivery = .stored
                if let detail = row.lastError {
                    records[index]?.findings.append(Finding(.deliveryWarning, .low, detail))
                }
            case .failed:
                records[index]?.delivery = .failed
                let code = row.failureCode.map(FindingCode.init(rawValue:)) ?? .deliveryRefused
                records[index]?.findings.append(Finding(code, code.family == .pacs ? .medium : .high,
                    (row.lastError ?? "the destination refused it") + "; kept in the spool (kiosk-agent spool retry)"))
                worst = max(worst, .someRejected)
            case .pending, .sending:
                records[index]?.findings.append(Finding(.deliveryPending, .medium,
                    "not yet acknowledged after \(row.attempts) attempt(s)" + (row.lastError.map { ": \($0)" } ?? "")
                    + "; safe in the spool, retried automatically"))
                worst = max(worst, .deliveryPending)
            }
        }
    }

    // MARK: studies and totals

    private func buildStudies() {
        var studies: [String: Study] = [:]
        var series: [String: Set<String>] = [:]
        var order: [String] = []
        for (index, summary) in summaries.sorted(by: { $0.key < $1.key }) {
            // Delivered instances only: not rejected, not left out by policy.
            guard let record = records[index], record.kind == .dicom, record.verdict == .clean || record.verdict == .disarmed else { continue }
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
                let media = mediaSummaries[index] ?? summary
                studies[key]?.mediaPatient = Study.MediaPatient(name: media.patientName, id: media.patientID, issuer: media.issuerOfPatientID,
                                                               birthDate: media.birthDate, sex: media.sex)
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
        let instances = Set(summaries.keys).union(mediaSummaries.keys).sorted()
            .filter { records[$0]?.kind == .dicom }.compactMap { mediaSummaries[$0] ?? summaries[$0] }
        if let several = PatientGrouping.finding(instances) { report.media.findings.append(several) }
        if settings.expected == nil && !report.studies.isEmpty {
            report.media.findings.append(Finding(.identityUnverified, .info,
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
        totals.routineCleanup = report.cleanupCounts.routine
        report.totals = totals
        if report.files.isEmpty && report.media.findings.contains(where: { $0.severity >= .high }) {
            worst = max(worst, .mediaUnreadable)
        }
        // Read completely and nothing on it is DICOM: not a failure of the kiosk (exit 0 stays,
        // nothing waits or was refused), but never to be read as "all DICOM delivered".
        if worst == .delivered && totals.dicom == 0 {
            let kinds = Dictionary(grouping: report.files, by: \.kind).sorted { $0.key.rawValue < $1.key.rawValue }
                .map { "\($0.value.count) \($0.key.rawValue)" }
            report.media.findings.append(Finding(.mediaNoDICOM, .low, totals.files == 0
                ? "no DICOM files found: the medium holds no files; nothing was imported"
                : "no DICOM files found among the \(totals.files) file(s) on the medium (\(kinds.joined(separator: ", "))); nothing was imported"))
        }
    }
}


/// Equal findings and part lists share one array (copy-on-write keeps each record its own to change).
public struct RepeatedLists {
    private var findings = Set<[Finding]>()
    private var parts = Set<[PartRecord]>()

    public mutating func shared(_ record: FileRecord) -> FileRecord {
        var record = record
        record.findings = findings.insert(record.findings).memberAfterInsert
        if let list = record.parts { record.parts = parts.insert(list).memberAfterInsert }
        return record
    }
}

/// The drainer started once the helper's inventory is accepted.
public final class TaskBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Task<Void, any Error>?
    public var task: Task<Void, any Error>? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// Blocking work (a pipe, a device) on a thread of its own, awaited without holding one of the
/// cooperative pool's threads.
public enum OwnThread {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}

/// Whether the disc is still being read (more instances may reach the spool), and after that how
/// long the drainer keeps retrying.
public final class ReadingFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var end: Date?

    public var isReading: Bool { lock.withLock { end == nil } }

    public var deadline: Date { lock.withLock { end ?? .distantFuture } }

    public func finish(wait seconds: Double) { lock.withLock { end = Date().addingTimeInterval(seconds) } }
}
