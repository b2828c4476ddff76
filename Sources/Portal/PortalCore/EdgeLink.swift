import PortalProtocol
import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOSSL
import PortalStore
import ServiceLifecycle
import Synchronization
import Uploads

/// Core's side of the link to the edge (core opens every connection, mutual TLS with the link CA). Every
/// `pollInterval` until graceful shutdown it pushes patients (records, invitations, unlocks), takes the batches patients
/// submitted (each upload streamed into core's staging store, its length and SHA-256 checked, the batch committed with
/// its job in one transaction, then `received`), pushes the results of finished batches, and takes the edge's security
/// events into the audit chain. Each step is idempotent against core's database, so a round cut short anywhere is done
/// again at the next: nothing is lost or taken twice.
///
/// The edge away is normal (a DMZ host restarts): it is logged once per outage, at warning level and without patient
/// data, and polling goes on.
public struct EdgeLink: Service {
    public struct Configuration: Sendable {
        /// `[edge] url`: the edge's link listener, `https://HOST:PORT`.
        public var url: String
        public var pollInterval: Duration
        /// Core's staging directory: what workers read batches from.
        public var stagingDirectory: String
        /// The largest upload taken (`[staging] max_upload_bytes`); a listing that declares more fails the batch.
        public var maxUploadSize: Int64
        /// Attempts a committed batch's job gets.
        public var protectAttempts = 5
        /// Downloads whose bytes differ from what the edge declared before the batch is given up as failed.
        public var mismatchLimit = 3
        /// Uploads of a batch downloaded at once: each is a round trip and three fsyncs (the staged file, its
        /// directory entry, its last segment), which overlap across downloads where they cannot within one.
        public var downloadConcurrency = 4
        /// The longest wait for the edge's next bytes.
        public var requestTimeout: Duration = .seconds(120)
        public var eventBatch = 500

        public init(url: String, pollInterval: Duration, stagingDirectory: String, maxUploadSize: Int64) {
            self.url = url
            self.pollInterval = pollInterval
            self.stagingDirectory = stagingDirectory
            self.maxUploadSize = maxUploadSize
        }
    }

    let configuration: Configuration
    let store: EdgeLinkStore
    let staging: any StagingStore
    let tls: TLSConfiguration
    let logger: Logger
    private let outage = Outage()

    /// - Parameter tls: core's link credentials (``PortalPKI/EdgeLinkAuthority/clientTLSConfiguration()``).
    public init(configuration: Configuration, database: PortalDatabase, tls: TLSConfiguration,
                logger: Logger = Logger(label: "dicom-portal.edge-link")) throws {
        self.configuration = configuration
        store = EdgeLinkStore(database, protectAttempts: configuration.protectAttempts)
        staging = try FileStagingStore(directory: configuration.stagingDirectory)
        self.tls = tls
        self.logger = logger
    }

    public func run() async throws {
        let client = EdgeLinkClient(url: configuration.url, tls: tls, timeout: .seconds(configuration.requestTimeout.components.seconds))
        logger.info("edge link polling", metadata: ["edge": "\(configuration.url)", "interval": "\(configuration.pollInterval)"])
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await round(client)
                try await Task.sleep(for: configuration.pollInterval)
            }
        }
        await client.shutdown()
    }

    /// One poll; each step stops the round when the edge cannot be reached.
    func round(_ client: EdgeLinkClient) async {
        do {
            // Resets first: a patient reset and then invited again is reset before the new invitation can be used, never after.
            try await pushAccountRequests(.secondFactorReset, client)
            try await pushPatients(client)
            try await pushAccountRequests(.unlock, client)
            try await takeBatches(client)
            try await pushResults(client)
            try await takeEvents(client)
            if outage.end() { logger.notice("the edge is reachable again") }
        } catch let error as EdgeLinkError {
            if case .unreachable(let why) = error {
                if outage.begin() { logger.warning("the edge cannot be reached; polling goes on", metadata: ["reason": "\(why)"]) }
            } else {
                logger.error("edge link round stopped", metadata: ["error": "\(error)"])
            }
        } catch is CancellationError {
            return
        } catch {
            logger.error("edge link round stopped: the database", metadata: ["error": "\(error)"])
        }
    }

    // MARK: patients

    private func pushPatients(_ client: EdgeLinkClient) async throws {
        let formatter = ISO8601DateFormatter()
        for patient in try await store.patientsToPush() {
            let body = EdgeLinkWire.Patient(
                name: patient.name, birthDate: patient.birthDate, email: patient.email,
                invitation: patient.invitation.map { .init(tokenSHA256: Hex.encode($0.tokenSHA256), expiresAt: formatter.string(from: $0.expiresAt)) },
                liveInvitation: patient.liveInvitationSHA256.map { Hex.encode($0) })
            do {
                try await client.putPatient(ref: patient.ref, body)
            } catch {
                guard case .refused(let status, let code) = error else { throw error }
                // Another patient signs in with this address: staff must change one of them (the record stays unpushed).
                logger.error("the edge refused a patient record", metadata: ["patient": "\(patient.ref)", "status": "\(status)", "code": "\(code ?? "")"])
                continue
            }
            try await store.patientPushed(patient)
        }
    }

    /// Unlocks and second-factor resets staff asked for; one the edge refuses is logged and stays for the next poll.
    private func pushAccountRequests(_ request: EdgeAccountRequest, _ client: EdgeLinkClient) async throws {
        for pending in try await store.toPush(request) {
            do {
                switch request {
                case .unlock: try await client.unlock(ref: pending.patient)
                case .secondFactorReset: try await client.resetSecondFactor(ref: pending.patient)
                }
            } catch {
                guard case .refused(let status, let code) = error else { throw error }
                let what = request == .unlock ? "an unlock" : "a second-factor reset"
                logger.error("the edge refused \(what)", metadata: ["patient": "\(pending.patient)", "status": "\(status)", "code": "\(code ?? "")"])
                continue
            }
            try await store.pushed(request, patient: pending.patient, requestedAt: pending.requestedAt)
        }
    }

    // MARK: batches

    private func takeBatches(_ client: EdgeLinkClient) async throws {
        for listed in try await client.submittedBatches() {
            do {
                try await take(listed, client: client)
            } catch let error as EdgeLinkError {
                if case .unreachable = error { throw error }
                // This batch's trouble (an upload the edge no longer has, say) must not hold up the others.
                logger.error("a batch could not be taken from the edge; it is tried again at the next poll",
                             metadata: ["edge_batch": "\(listed.id)", "error": "\(error)"])
            }
        }
    }

    /// Takes one submitted batch; an unusable download leaves it for the next poll (or, after `mismatchLimit`
    /// digest mismatches, fails it).
    private func take(_ listed: EdgeLinkWire.Batch, client: EdgeLinkClient) async throws {
        let edgeID = listed.id
        if let known = try await store.batch(edgeBatch: edgeID), known.batch.state != "open" {
            // Taken before, and the edge did not hear `received`: say it again.
            try await client.received(batch: edgeID)
            return
        }
        guard let ref = Int64(listed.patient), ref > 0 else {
            logger.error("the edge listed a batch for no patient ref", metadata: ["edge_batch": "\(edgeID)"])
            return
        }
        let record: EdgeBatchRecord
        do {
            record = try await store.takeBatch(edgeBatch: edgeID, patient: ref)
        } catch let error as BatchError {
            logger.error("the edge listed a batch core cannot take", metadata: ["edge_batch": "\(edgeID)", "error": "\(error)"])
            return
        }
        if let problem = EdgeUploadCheck.problem(in: listed.uploads, maxUploadSize: configuration.maxUploadSize) {
            try await giveUp(record, edgeID: edgeID, uploads: listed.uploads, reason: problem, client: client)
            return
        }
        var rows: [EdgeUploadRow] = []
        switch try await downloadAll(listed.uploads, of: record, edgeID: edgeID, client: client) {
        case .staged(let staged):
            rows = staged
        case .mismatch(let upload, let reason):
            let count = try await store.recordMismatch(record, edgeBatch: edgeID, upload: upload.id, reason: reason)
            logger.warning("an upload from the edge did not match its digest", metadata: [
                "edge_batch": "\(edgeID)", "upload": "\(upload.id)", "reason": "\(reason)", "tries": "\(count)"])
            if count >= configuration.mismatchLimit {
                try await giveUp(record, edgeID: edgeID, uploads: listed.uploads, reason: "the files did not arrive intact after \(count) tries",
                                 client: client)
            }
            return
        }
        if try await store.commit(record, edgeBatch: edgeID, uploads: rows) {
            logger.info("batch taken from the edge", metadata: ["batch": "\(record.batch.id.uuidString.lowercased())", "edge_batch": "\(edgeID)",
                                                                 "uploads": "\(rows.count)"])
        }
        try await client.received(batch: edgeID)
    }

    /// Fails the batch (its result tells the patient why) and removes what earlier tries staged of it.
    private func giveUp(_ record: EdgeBatchRecord, edgeID: UUID, uploads: [EdgeLinkWire.Upload], reason: String,
                        client: EdgeLinkClient) async throws {
        try await store.fail(record, edgeBatch: edgeID, reason: reason)
        for upload in uploads where EdgeUploadCheck.isUploadID(upload.id) {
            try? await staging.remove(EdgeUploadCheck.uploadID(edgeBatch: edgeID, upload: upload.id))
        }
        logger.warning("batch from the edge given up", metadata: ["edge_batch": "\(edgeID)", "reason": "\(reason)"])
        try await client.received(batch: edgeID)
    }

    enum Download {
        case staged(EdgeUploadRow)
        case mismatch(String)
    }

    enum Downloads {
        /// Every upload, in the listing's order.
        case staged([EdgeUploadRow])
        /// The first upload found not to match; the downloads still running were cancelled.
        case mismatch(EdgeLinkWire.Upload, String)
    }

    /// Downloads a batch's uploads, `downloadConcurrency` at a time.
    private func downloadAll(_ uploads: [EdgeLinkWire.Upload], of record: EdgeBatchRecord, edgeID: UUID,
                             client: EdgeLinkClient) async throws -> Downloads {
        try await withThrowingTaskGroup(of: (Int, Download).self) { group in
            var rows = [EdgeUploadRow?](repeating: nil, count: uploads.count)
            var next = 0
            func start() {
                guard next < uploads.count else { return }
                let index = next, upload = uploads[index]
                next += 1
                group.addTask { (index, try await download(upload, of: record, edgeID: edgeID, client: client)) }
            }
            for _ in 0..<max(1, configuration.downloadConcurrency) { start() }
            while let (index, outcome) = try await group.next() {
                switch outcome {
                case .staged(let row):
                    rows[index] = row
                    start()
                case .mismatch(let reason):
                    group.cancelAll()
                    return .mismatch(uploads[index], reason)
                }
            }
            return .staged(rows.compactMap { $0 })
        }
    }

    /// Streams one upload into staging under the batch's key, hashing as it goes; never more than a staging segment
    /// and a body chunk in memory. A fresh try starts from nothing: what an earlier try staged is removed first.
    private func download(_ upload: EdgeLinkWire.Upload, of record: EdgeBatchRecord, edgeID: UUID,
                          client: EdgeLinkClient) async throws -> Download {
        let id = EdgeUploadCheck.uploadID(edgeBatch: edgeID, upload: upload.id)
        let key = SymmetricKey(data: record.batch.stagingKey)
        try await staging.remove(id)
        let response = try await client.download(batch: edgeID, upload: upload.id)
        if let declared = response.headers.first(name: "Content-Length").flatMap(Int64.init), declared != upload.length {
            return .mismatch("the edge sent \(declared) bytes where its list says \(upload.length)")
        }
        try await staging.create(id, key: key)
        let append = try await staging.beginAppend(id, key: key, at: 0)
        var hasher = SHA256Stream()
        var received: Int64 = 0
        do {
            for try await chunk in response.body {
                received += Int64(chunk.readableBytes)
                guard received <= upload.length else { break }
                hasher.update(chunk)
                try await append.write(chunk)
            }
        } catch {
            try? await append.abort()
            try? await staging.remove(id)
            throw EdgeLinkError.unreachable("the download of an upload was cut off: \(EdgeLinkClient.describe(error))")
        }
        let digest = hasher.finalize()
        guard received == upload.length, digest == upload.sha256.lowercased() else {
            try? await append.abort()
            try? await staging.remove(id)
            return .mismatch(received == upload.length ? "its SHA-256 differs from the one the edge declared"
                                                       : "\(received) bytes arrived where \(upload.length) were declared")
        }
        _ = try await append.commit()
        return .staged(EdgeUploadRow(id: id.rawValue, length: upload.length,
                                     metadataJSON: EdgeUploadCheck.metadataJSON(name: upload.name, sha256: digest), sha256: digest))
    }

    // MARK: results and events

    private func pushResults(_ client: EdgeLinkClient) async throws {
        for source in try await store.resultsToPush() {
            let result = EdgeResultBuilder.build(source)
            do {
                try await client.putResult(batch: source.edgeBatch, result)
            } catch {
                guard case .refused(let status, let code) = error else { throw error }
                logger.error("the edge refused a result", metadata: ["edge_batch": "\(source.edgeBatch)", "status": "\(status)", "code": "\(code ?? "")"])
                continue
            }
            try await store.resultPushed(batch: source.batch, state: source.state)
        }
    }

    private func takeEvents(_ client: EdgeLinkClient) async throws {
        while true {
            let after = try await store.lastEvent()
            let page = try await client.events(after: after, limit: configuration.eventBatch)
            let events = page.events.filter { $0.seq > after }.map {
                EdgeEvent(seq: $0.seq, at: $0.at, type: EdgeUploadCheck.eventType($0.type), patient: $0.patient,
                          address: $0.address, detail: $0.detail ?? .object([:]))
            }
            guard !events.isEmpty else { return }
            try await store.take(events)
            if page.events.count < configuration.eventBatch { return }
        }
    }
}

/// Whether the edge is known to be away, so an outage is logged once.
final class Outage: Sendable {
    private let away = Mutex(false)
    /// True when this starts an outage.
    func begin() -> Bool { away.withLock { was in defer { was = true }; return !was } }
    /// True when this ends one.
    func end() -> Bool { away.withLock { was in defer { was = false }; return was } }
}
