import AgentConfiguration
import Crypto
import Foundation
import IngestPipeline
import Logging
import NIOCore
import PortalConfiguration
import PortalCore
import PortalStore
import PortalTestSupport
import PortalWorker
import PostgresNIO
import TestSupport
import Uploads
import XCTest

/// A reviewer's decisions carried out by a real worker (the PortalWorker service in-process, its media helper the
/// built dicom-portal) against Orthanc on loopback as the PACS: a held batch approved reaches the PACS under the
/// registered patient's ID with each instance sent once, and one reassigned to the right patient is delivered.
final class ReviewWorkerTests: XCTestCase {
    /// One PACS for the class: Orthanc takes seconds to start.
    nonisolated(unsafe) private static var sharedPACS: OrthancPeer?

    override class func tearDown() {
        sharedPACS?.stop()
        sharedPACS = nil
        TestClusters.stopBlocking(String(describing: self))
    }

    private func pacs() throws -> OrthancPeer {
        if let pacs = Self.sharedPACS { return pacs }
        let pacs = try OrthancPeer()
        Self.sharedPACS = pacs
        return pacs
    }

    private struct Rig {
        let database: PortalDatabase
        let store: FileStagingStore
        let pacs: OrthancPeer
        let directory: TestSupport.TemporaryDirectory
    }

    private func rig() async throws -> Rig {
        let helper = TestSupport.productsDirectory.appendingPathComponent("dicom-portal").path
        guard FileManager.default.isExecutableFile(atPath: helper) else { throw XCTSkip("dicom-portal is not built at \(helper)") }
        HelperProcess.executable = helper
        let pacs = try pacs()
        let database = try await migratedDatabase(for: self)
        let directory = try TestSupport.TemporaryDirectory("review-worker")
        addTeardownBlock { directory.cleanUp() }
        return Rig(database: database, store: try FileStagingStore(directory: directory.path("staging")), pacs: pacs, directory: directory)
    }

    /// The DICOM files of a synthetic disc of `patient` (make-sample-disc), as (relative path, bytes).
    private func discFiles(_ rig: Rig, name: String, id: String, birth: String, seed: Int) throws -> [(String, Data)] {
        let out = rig.directory.path("disc-\(seed)")
        let result = try TestSupport.run(try TestSupport.tool("python3"), [
            TestSupport.packageRoot.appendingPathComponent("scripts/make-sample-disc").path, "--out", out, "--format", "dir",
            "--ct-images", "2", "--mr-images", "1", "--patient-name", name, "--patient-id", id, "--birth-date", birth, "--seed", String(seed),
        ], environment: ["KIOSK_TESTDATA": TestSupport.testDataRoot.path], check: false)
        guard result.status == 0 else { throw XCTSkip("make-sample-disc failed: \(result.stderrText)") }
        var files: [(String, Data)] = []
        let root = URL(fileURLWithPath: out).appendingPathComponent("DICOM")
        let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            guard (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true else { continue }
            files.append(("seed\(seed)/" + url.path.dropFirst(root.path.count + 1), try Data(contentsOf: url)))
        }
        return files.sorted { $0.0 < $1.0 }
    }

    /// A committed batch of `patient` holding `files` as staged uploads, its protect job enqueued: what the edge link
    /// leaves for a worker.
    private func commitBatch(_ rig: Rig, patient: Int64, files: [(String, Data)]) async throws -> UUID {
        let batch = try await BatchStore(rig.database).createPatientBatch(patient: patient)
        let registry = PostgresUploadRegistry(rig.database)
        let key = SymmetricKey(data: batch.stagingKey)
        for (path, bytes) in files {
            let id = UploadID.random()
            try await rig.store.create(id, key: key)
            let append = try await rig.store.beginAppend(id, key: key, at: 0)
            try await append.write(ByteBuffer(bytes: bytes))
            let length = try await append.commit()
            try await registry.create(UploadRecord(
                id: id, batch: batch.id.uuidString.lowercased(), owner: UploadOwner("patient:\(patient)"), length: length, offset: length,
                metadata: [MetadataEntry(key: "relativePath", value: Data(path.utf8)),
                           MetadataEntry(key: "sha256", value: Data(SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined().utf8))],
                expires: Date().addingTimeInterval(3600)))
        }
        try await rig.database.transaction { connection in
            try await connection.query("UPDATE batches SET state = 'committed', committed_at = now() WHERE id = \(batch.id)", logger: rig.database.logger)
            try await JobQueue(rig.database).enqueue(NewJob(kind: BatchStore.protectJobKind, batch: batch.id,
                                                            payloadJSON: #"{"batch":"\#(batch.id.uuidString.lowercased())"}"#), on: connection)
        }
        return batch.id
    }

    /// Runs a worker in-process until `body` returns.
    private func withWorker<T>(_ rig: Rig, _ body: () async throws -> T) async throws -> T {
        var configuration = PortalConfiguration()
        configuration.pipeline.destination = rig.pacs.dicomURL
        configuration.pipeline.delivery.waitSeconds = 10
        configuration.pipeline.delivery.retryBaseSeconds = 1
        configuration.worker.leaseSeconds = 60
        let state = StateDirectory(URL(fileURLWithPath: rig.directory.path("worker")))
        let worker = PortalWorker(configuration: configuration, database: rig.database, store: rig.store,
                                  registry: PostgresUploadRegistry(rig.database), stateDirectory: state, engines: [],
                                  destination: try Destination(parsing: rig.pacs.dicomURL, stateDirectory: state), name: "worker:test",
                                  modifyingSystem: "dicom-portal test", logger: Logger(label: "review-worker"))
        let running = Task { try await worker.run() }
        defer { running.cancel() }
        let result = try await body()
        // The last job records its end after the batch's outcome: let it, so the worker stops idle.
        _ = try await eventually(30) {
            var busy = 0
            for try await count in try await rig.database.client.query("""
                SELECT count(*)::int FROM jobs WHERE state IN ('queued', 'running')
                """).decode(Int.self) { busy = count }
            return busy == 0
        }
        running.cancel()
        _ = await running.result
        return result
    }

    private func state(_ database: PortalDatabase, _ batch: UUID) async throws -> String? {
        for try await state in try await database.client.query("SELECT state FROM batches WHERE id = \(batch)").decode(String.self) { return state }
        return nil
    }

    private func waitFor(_ database: PortalDatabase, _ batch: UUID, _ wanted: String, seconds: Double = 180) async throws {
        let reached = try await eventually(seconds) { try await self.state(database, batch) == wanted }
        let now = try await state(database, batch) ?? "missing"
        XCTAssertTrue(reached, "batch \(batch) is \(now), not \(wanted)")
    }

    /// PatientID per SOP Instance UID at the PACS.
    private func pacsPatients(_ pacs: OrthancPeer) throws -> [String: String] {
        let instances = try pacs.get("/instances?expand") as? [[String: Any]] ?? []
        var found: [String: String] = [:]
        for instance in instances {
            guard let uid = (instance["MainDicomTags"] as? [String: Any])?["SOPInstanceUID"] as? String,
                  let id = instance["ID"] as? String,
                  let tags = try pacs.get("/instances/\(id)/simplified-tags") as? [String: Any],
                  let patientID = tags["PatientID"] as? String else { continue }
            found[uid] = patientID
        }
        return found
    }

    func testAHeldBatchApprovedReachesThePACSOnceUnderTheRegisteredPatientsID() async throws {
        let rig = try await rig()
        let jane = try await PatientRegistry(rig.database).add(
            RegisteredPatient(patientID: "H777", issuer: "", name: "DOE^JANE", birthDate: "19700101"), actor: "test")
        // Her own disc (another site's ID: reconciled) and, in the same upload, someone else's.
        let hers = try discFiles(rig, name: "DOE^JANE", id: "KS123456", birth: "19700101", seed: 11)
        let other = try discFiles(rig, name: "ROE^RICHARD", id: "X-9", birth: "19550505", seed: 12)
        let batch = try await commitBatch(rig, patient: jane, files: hers + other)
        let reason = "same person: changed her name and the other site has a wrong birth date"
        try await withWorker(rig) {
            try await waitFor(rig.database, batch, "held")
            let firstRun = try pacsPatients(rig.pacs)
            XCTAssertEqual(firstRun.count, hers.count, "only her studies were delivered")
            XCTAssertEqual(Set(firstRun.values), ["H777"])
            let item = try await ReviewQueue(rig.database).queue().first { $0.batch == batch.uuidString.lowercased() }
            XCTAssertEqual(item?.reasons, [.identityMismatch, .severalPatients])

            try await ReviewQueue(rig.database).decide(.approve, batch: batch, reviewer: "rita", actor: "staff:rita", reason: reason)
            try await waitFor(rig.database, batch, "delivered")
        }
        let delivered = try pacsPatients(rig.pacs)
        XCTAssertEqual(delivered.count, hers.count + other.count)
        XCTAssertEqual(Set(delivered.values), ["H777"], "the held studies are coerced to the registered patient's ID")
        // Each instance was sent once: the second run rebuilt her instances byte for byte, so the ledger knew them.
        var rows: [String: Int] = [:]
        for try await (uid, count) in try await rig.database.client.query("""
            SELECT sop_instance_uid, count(*)::int FROM deliveries GROUP BY sop_instance_uid
            """).decode((String, Int).self) { rows[uid] = count }
        XCTAssertEqual(rows.count, hers.count + other.count)
        XCTAssertEqual(Set(rows.values), [1], "one delivery per instance")

        var report = ""
        for try await (text, review, by) in try await rig.database.client.query("""
            SELECT report::text, review_state, reviewed_by FROM batches WHERE id = \(batch)
            """).decode((String, String?, String?).self) {
            report = text
            XCTAssertEqual(review, "approved")
            XCTAssertEqual(by, "rita")
        }
        XCTAssertTrue(report.contains("\"identityOverride\": \"reviewer rita: \(reason)\""), report)
        var audit: [(String, String, String)] = []
        for try await row in try await rig.database.client.query("""
            SELECT event_type, actor, detail::text FROM audit WHERE detail->>'batch' = \(batch.uuidString.lowercased()) ORDER BY seq
            """).decode((String, String, String).self) { audit.append(row) }
        XCTAssertEqual(audit.map(\.0), ["batch.held", "review.approved", "batch.delivered"])
        XCTAssertEqual(audit[1].1, "staff:rita")
        XCTAssertTrue(audit[1].2.contains(reason), audit[1].2)
        XCTAssertTrue(audit[2].2.contains("\"review\": \"approved\""), audit[2].2)
    }

    func testAHeldBatchReassignedToTheRightPatientIsDelivered() async throws {
        let rig = try await rig()
        let registry = PatientRegistry(rig.database)
        let uploader = try await registry.add(RegisteredPatient(patientID: "H888", issuer: "", name: "DOE^JOHN", birthDate: "19800202"), actor: "test")
        let husband = try await registry.add(RegisteredPatient(patientID: "H999", issuer: "", name: "MOE^MAX", birthDate: "19600606"), actor: "test")
        let files = try discFiles(rig, name: "MOE^MAX", id: "EXT-1", birth: "19600606", seed: 21)
        let batch = try await commitBatch(rig, patient: uploader, files: files)
        try await withWorker(rig) {
            try await waitFor(rig.database, batch, "held")
            try await ReviewQueue(rig.database).decide(.reassign(patient: husband), batch: batch, reviewer: "rita", actor: "staff:rita",
                                                       reason: "uploaded from her account for her husband")
            try await waitFor(rig.database, batch, "delivered")
        }
        let delivered = try pacsPatients(rig.pacs).filter { $0.value == "H999" }
        XCTAssertEqual(delivered.count, files.count, "delivered under the assigned patient's ID")
        for try await (review, assigned) in try await rig.database.client.query("""
            SELECT review_state, assigned_patient FROM batches WHERE id = \(batch)
            """).decode((String?, Int64?).self) {
            XCTAssertEqual(review, "reassigned")
            XCTAssertEqual(assigned, husband)
        }
    }
}
