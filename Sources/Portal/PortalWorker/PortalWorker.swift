import AgentConfiguration
import Foundation
import IngestPipeline
import Logging
import PortalConfiguration
import PortalMetrics
import PortalStore
import Protector
import ServiceLifecycle
import SessionReport
import Uploads

/// `dicom-portal worker`: takes committed batches off the queue and runs each through the pipeline against
/// the patient it belongs to, then records the outcome. Any number run, on any machine that reaches the
/// database and the staging store; the queue's leases make each batch one worker's at a time, and a worker
/// that dies leaves its batch to the next once the lease runs out.
public struct PortalWorker: Service {
    public static let jobKind = BatchStore.protectJobKind

    let configuration: PortalConfiguration
    let database: PortalDatabase
    let store: any StagingStore
    let registry: any UploadRegistry
    let stateDirectory: StateDirectory
    let engines: [any MalwareEngine]
    let destination: Destination
    let name: String
    let modifyingSystem: String
    let logger: Logger
    let metrics: WorkerMetrics
    let activity = WorkerActivity()

    /// - Parameters:
    ///   - engines: started once for the worker's life (the scanner process), shared by every batch.
    ///   - name: how this worker signs leases and audit records (`worker:HOST:PID`).
    ///   - metrics: what `[worker] metrics_listen` serves.
    public init(configuration: PortalConfiguration, database: PortalDatabase, store: any StagingStore, registry: any UploadRegistry,
                stateDirectory: StateDirectory, engines: [any MalwareEngine], destination: Destination, name: String,
                modifyingSystem: String, logger: Logger, metrics: WorkerMetrics = WorkerMetrics()) {
        self.configuration = configuration
        self.database = database
        self.store = store
        self.registry = registry
        self.stateDirectory = stateDirectory
        self.engines = engines
        self.destination = destination
        self.name = name
        self.modifyingSystem = modifyingSystem
        self.logger = logger
        self.metrics = metrics
    }

    public func run() async throws {
        let queue = JobQueue(database)
        let slots = configuration.worker.concurrency
        let heartbeats = WorkerHeartbeats(database)
        do { try await heartbeats.started(name: name, host: ProcessInfo.processInfo.hostName, pid: Int(ProcessInfo.processInfo.processIdentifier)) } catch {
            logger.warning("cannot record the worker's start; the heartbeat tries again", metadata: ["error": "\(error)"])
        }
        logger.info("worker ready", metadata: ["worker": "\(name)", "concurrency": "\(slots)"])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { beating in
                beating.addTask { await self.beat(heartbeats) }
                await withTaskGroup(of: Void.self) { group in
                    for slot in 0..<slots {
                        group.addTask { await self.loop(queue: queue, slot: slot) }
                    }
                }
                beating.cancelAll()
            }
        } onGracefulShutdown: {
            logger.info("worker stopping: batches in progress finish first", metadata: ["worker": "\(name)"])
        }
        do { try await heartbeats.stopped(name: name) } catch {
            logger.warning("cannot record the worker's stop", metadata: ["error": "\(error)"])
        }
    }

    /// The heartbeat: every few seconds the worker's row says it is alive and which batch it works on. A beat that
    /// finds no row (the database was replaced, or the start was not recorded) records the start again.
    private func beat(_ heartbeats: WorkerHeartbeats) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: WorkerHeartbeats.interval)
            if Task.isCancelled { return }
            do {
                if try await !heartbeats.beat(name: name, currentBatch: activity.current) {
                    try await heartbeats.started(name: name, host: ProcessInfo.processInfo.hostName,
                                                 pid: Int(ProcessInfo.processInfo.processIdentifier))
                }
            } catch {
                logger.debug("heartbeat failed; the next one tries again", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Claims until nothing is due, then waits for a notification or the next poll (the first event, LISTEN
    /// established, starts the first round).
    private func loop(queue: JobQueue, slot: Int) async {
        for await _ in queue.wakeUps(pollInterval: .seconds(5)).cancelOnGracefulShutdown() {
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                do {
                    guard let job = try await queue.claim(worker: "\(name)/\(slot)", kinds: [Self.jobKind],
                                                          lease: Double(configuration.worker.leaseSeconds)) else { break }
                    await process(job, queue: queue)
                } catch {
                    logger.warning("cannot claim work; waiting for the database", metadata: ["error": "\(error)"])
                    break
                }
            }
        }
    }

    /// One job under its lease: the work runs while a renewal task keeps the lease; losing the lease (another
    /// worker took over after a stall) cancels the work, whose results are then not recorded by this worker.
    private func process(_ job: ClaimedJob, queue: JobQueue) async {
        guard let batchID = job.batch else {
            try? await queue.fail(job.lease, error: "job has no batch", permanent: true)
            return
        }
        let lease = Double(configuration.worker.leaseSeconds)
        activity.begin(batchID)
        defer { activity.end(batchID) }
        let outcome: Result<Void, any Error> = await withTaskGroup(of: Result<Void, any Error>?.self) { group in
            group.addTask {
                do { try await protect(batchID, job: job); return .success(()) } catch { return .failure(error) }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(max(1, lease / 3)))
                    if Task.isCancelled { return nil }
                    do {
                        if try await !queue.renew(job.lease, for: lease) { return .failure(JobQueueError.leaseLost(jobID: job.id)) }
                    } catch {
                        // The database is away: keep the work going; the next renewal may reach it before the lease ends.
                        logger.warning("lease renewal failed", metadata: ["job": "\(job.id)", "error": "\(error)"])
                    }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(CancellationError())
        }
        do {
            switch outcome {
            case .success:
                try await queue.complete(job.lease)
                await tally(failed: false)
            case .failure(let error as JobQueueError):
                logger.warning("batch left to another worker", metadata: ["job": "\(job.id)", "reason": "\(error)"])
            case .failure(let error as BatchRecords.LoadError):
                await tally(failed: true)
                // The batch itself is unusable: retrying cannot help.
                try await queue.fail(job.lease, error: "\(error)", permanent: true)
                _ = try? await database.client.query("UPDATE batches SET state = 'failed' WHERE id = \(batchID)", logger: logger)
            case .failure(let error):
                await tally(failed: true)
                logger.warning("batch failed; it will be retried", metadata: ["job": "\(job.id)", "attempt": "\(job.attempt)", "error": "\(error)"])
                try await queue.fail(job.lease, error: "\(error)")
                if job.attempt >= job.maxAttempts {
                    _ = try? await database.client.query("UPDATE batches SET state = 'failed' WHERE id = \(batchID)", logger: logger)
                }
            }
        } catch {
            logger.warning("cannot record the job's end; its lease will expire and it runs again", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }

    /// Counts a batch's end in the worker's row (and a failure in its metrics; a success was counted as recorded).
    private func tally(failed: Bool) async {
        if failed { metrics.batchFailed() }
        do { try await WorkerHeartbeats(database).finished(name: name, failed: failed) } catch {
            logger.debug("cannot count the batch in the worker's row", metadata: ["error": "\(error)"])
        }
    }

    private static func seconds(_ duration: Duration) -> String {
        String(format: "%.2f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    private func protect(_ batchID: UUID, job: ClaimedJob) async throws {
        let records = BatchRecords(database: database, registry: registry)
        let requested = (try? JSONValue.parse(job.payloadJSON)).flatMap { payload -> String? in
            guard case let .object(fields) = payload, case let .string(review)? = fields[ReviewQueue.payloadKey] else { return nil }
            return review
        }
        let (batch, registered) = try await records.load(batchID, issuer: configuration.pipeline.reconciliation.issuerOfPatientID ?? "",
                                                         review: requested)
        logger.info("batch claimed", metadata: ["batch": "\(batchID.uuidString.lowercased())", "attempt": "\(job.attempt)", "uploads": "\(batch.uploads.count)"])
        try await records.markProcessing(batchID)
        let scratch = stateDirectory.temporary("batch-\(batchID.uuidString.lowercased())-\(job.attempt)").path
        try? FileManager.default.removeItem(atPath: scratch)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        let clock = ContinuousClock(), started = clock.now
        let unpacked = try await BatchUnpacker(store: store, scratch: scratch).unpack(batch)
        let unpackedAt = clock.now
        logger.info("batch unpacked", metadata: ["batch": "\(batchID.uuidString.lowercased())", "bytes": "\(unpacked.bytes)",
                                                  "seconds": "\(Self.seconds(unpackedAt - started))"])
        var media: [(source: String, label: String)] = []
        if let directory = unpacked.directory { media.append((directory, "files")) }
        media += unpacked.archives.map { ($0.path, $0.name) }
        let protection = BatchProtection(configuration: configuration.pipeline, destination: destination, stateDirectory: stateDirectory,
                                         engines: engines, ledger: PostgresDeliveryLedger(database: database), worker: name,
                                         modifyingSystem: modifyingSystem)
        let identity = protection.identity(for: batch, registered: registered)
        var (report, exit) = try await protection.run(media, batch: batchID, identity: identity)
        if case let .kiosk(_, _, manifest?) = batch.owner { report.expectedPatient = manifest.report.value.expectedPatient }
        try Task.checkCancellation()

        let pending = report.files.filter { $0.delivery == .spooled }.count
        if pending > 0 {
            // The PACS is away: leave the batch to a later attempt (the spool keeps sending meanwhile).
            throw WorkerError.deliveryPending(pending)
        }
        let approved = if case .approved = batch.review { true } else { false }
        let state = BatchState.after(report, exit: exit, problems: unpacked.problems, approved: approved)
        try await records.record(batchID, state: state.rawValue, report: report, exit: Int(exit.rawValue), problems: unpacked.problems,
                                 worker: name, review: batch.review)
        metrics.batchRecorded(report, after: clock.now - started)
        logger.info("batch done", metadata: ["batch": "\(batchID.uuidString.lowercased())", "state": "\(state.rawValue)", "files": "\(report.totals.files)",
                                              "delivered": "\(report.totals.delivered)", "seconds": "\(Self.seconds(clock.now - unpackedAt))"])
        if state == .delivered {
            for upload in batch.uploads { try? await store.remove(upload.id) }
        }
    }
}

/// A batch's state once a worker is done with it.
enum BatchState: String {
    /// Every DICOM instance that passed the Protector is at the PACS.
    case delivered
    /// Something needs a person: a study of another patient, an upload whose bytes changed or that could not be
    /// read (a medium or archive not, or not fully, read), no room, or nothing deliverable. Its uploads are kept.
    case held

    /// `approved`: a reviewer approved the batch's studies of another patient, so they no longer hold it (every
    /// other reason still does).
    static func after(_ report: Report, exit: ExitStatus, problems: [String], approved: Bool = false) -> BatchState {
        if !problems.isEmpty || exit >= .identityMismatch { return .held }
        if !approved && report.studies.contains(where: { $0.identity == .mismatch }) { return .held }
        if report.totals.dicom == 0 || report.files.contains(where: { $0.delivery == .failed }) { return .held }
        return .delivered
    }
}

enum WorkerError: Error, CustomStringConvertible {
    case deliveryPending(Int)

    var description: String {
        switch self {
        case .deliveryPending(let count): "\(count) instance(s) are waiting for the PACS"
        }
    }
}
