import Foundation
import PortalStore
import PostgresNIO
import TestSupport
import XCTest

/// The whole portal with real parts on loopback: `dicom-portal core` (its private PostgreSQL cluster), workers,
/// Orthanc as the PACS, and `kiosk-agent ingest` uploading a disc to `portal+https://` with its own certificate.
final class PortalEndToEndTests: XCTestCase {
    private var portal: String { TestSupport.productsDirectory.appendingPathComponent("dicom-portal").path }
    private var kioskAgent: String { TestSupport.productsDirectory.appendingPathComponent("kiosk-agent").path }

    /// A portal ready to take kiosk uploads: configuration, a registered patient, a kiosk's certificate, core
    /// running; workers are the test's to start.
    final class Setup: @unchecked Sendable {
        let directory: String
        let state: String
        let config: String
        let kioskFiles: String
        let port: Int
        let pacs: OrthancPeer
        var core: PortalProcess?
        var workers: [PortalProcess] = []

        init(directory: String, state: String, config: String, kioskFiles: String, port: Int, pacs: OrthancPeer) {
            self.directory = directory; self.state = state; self.config = config; self.kioskFiles = kioskFiles
            self.port = port; self.pacs = pacs
        }

        var destination: String { "portal+https://127.0.0.1:\(port)" }

        /// Also the PACS: the setup is captured by the teardown block, so the peer's own deinit may come too late.
        func stopAll() {
            for worker in workers { worker.stop(grace: 30) }
            core?.stop(grace: 60)
            pacs.stop()
        }
    }

    /// `extra`: more configuration (TOML tables) for core and the workers.
    private func setUpPortal(leaseSeconds: Int = 60, extra: String = "") throws -> Setup {
        // Short: the private cluster's socket path must fit in 107 bytes.
        let directory = "/tmp/dpe-" + String(UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        let pacs = try OrthancPeer()
        let port = TestSupport.freePort()
        let state = directory + "/state"
        let config = directory + "/portal.toml"
        try """
            [core]
            listen = "127.0.0.1:\(port)"
            [delivery]
            destination = "\(pacs.dicomURL)"
            wait_seconds = 5
            retry_base_seconds = 1
            [worker]
            lease_seconds = \(leaseSeconds)
            \(extra)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let kioskFiles = directory + "/desk-1"
        let setup = Setup(directory: directory, state: state, config: config, kioskFiles: kioskFiles, port: port, pacs: pacs)
        addTeardownBlock { setup.stopAll() }
        try run(portal, ["kiosk", "add", "desk-1", "--out", kioskFiles, "--state-dir", state, "--config", config])
        try run(portal, ["patient", "add", "--id", "H777", "--name", "DOE^JANE", "--birth-date", "19700101", "--state-dir", state, "--config", config])
        let core = try PortalProcess(portal, ["core", "--state-dir", state, "--config", config], log: directory + "/core.log")
        setup.core = core
        try core.waitListening(port)
        return setup
    }

    @discardableResult
    private func run(_ binary: String, _ arguments: [String], environment: [String: String] = [:]) throws -> TestSupport.ToolResult {
        let result = try TestSupport.run(binary, arguments, environment: environment, check: false)
        if result.status != 0 {
            if result.stderrText.contains("initdb") { throw XCTSkip("PostgreSQL is not installed: \(result.stderrText)") }
            XCTFail("\(binary) \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderrText)")
        }
        return result
    }

    private func startWorker(_ setup: Setup, name: String) throws -> PortalProcess {
        let worker = try PortalProcess(portal, ["worker", "--state-dir", setup.state, "--config", setup.config],
                                       log: setup.directory + "/\(name).log")
        setup.workers.append(worker)
        XCTAssertTrue(worker.waitFor("worker ready", seconds: 60), worker.output)
        return worker
    }

    /// A kiosk's configuration naming its certificate files, and its own state directory.
    private func kiosk(_ setup: Setup, name: String = "kiosk") throws -> (config: String, state: String) {
        let config = setup.directory + "/\(name).toml"
        try """
            [portal]
            certificate = "\(setup.kioskFiles)/kiosk.crt"
            key = "\(setup.kioskFiles)/kiosk.key"
            ca_file = "\(setup.kioskFiles)/portal-ca.crt"
            [delivery]
            wait_seconds = 20
            retry_base_seconds = 1
            """.write(toFile: config, atomically: true, encoding: .utf8)
        return (config, setup.directory + "/\(name)-state")
    }

    private func database(_ setup: Setup) throws -> PortalDatabase {
        let cluster = try EmbeddedPostgres(directory: setup.state + "/postgres")
        return try PortalDatabase(settings: cluster.settings)
    }

    private func batchStates(_ database: PortalDatabase) async throws -> [String] {
        var states: [String] = []
        for try await state in try await database.client.query("SELECT state FROM batches ORDER BY created_at").decode(String.self) {
            states.append(state)
        }
        return states
    }

    private func waitForBatches(_ database: PortalDatabase, _ expected: [String], seconds: Double) async throws -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var states: [String] = []
        while Date() < deadline {
            states = try await batchStates(database)
            if states == expected { return states }
            try await Task.sleep(for: .milliseconds(250))
        }
        return states
    }

    /// A disc imported at the desk (the staff confirmed the patient and reconciled to the hospital's ID) reaches
    /// the PACS through the portal: uploaded over tus with the kiosk's certificate, committed on its manifest,
    /// protected again by a worker against the registered patient, delivered once.
    func testAKioskDiscReachesThePACSThroughThePortal() async throws {
        let setup = try setUpPortal()
        _ = try startWorker(setup, name: "worker-1")
        let disc = setup.directory + "/disc.iso"
        try run(try TestSupport.tool("python3"), [TestSupport.packageRoot.appendingPathComponent("scripts/make-sample-disc").path,
                                                  "--out", disc, "--ct-images", "6", "--mr-images", "3"],
                environment: ["KIOSK_TESTDATA": TestSupport.testDataRoot.path])
        let (kioskConfig, kioskState) = try kiosk(setup)
        let ingest = try TestSupport.run(kioskAgent, [
            "ingest", disc, "--destination", setup.destination, "--reconcile", "--patient-id", "H777", "--patient-name", "DOE^JANE",
            "--birth-date", "19700101", "--state-dir", kioskState, "--config", kioskConfig, "--json"], check: false)
        XCTAssertEqual(ingest.status, 0, ingest.stderrText)

        let database = try database(setup)
        defer { Task { await database.shutdown() } }
        let states = try await waitForBatches(database, ["delivered"], seconds: 180)
        XCTAssertEqual(states, ["delivered"], setup.workers.first?.output ?? "")
        let uids = try setup.pacs.sopInstanceUIDs()
        XCTAssertEqual(uids.count, 9, "each instance once")
        XCTAssertEqual(Set(uids).count, uids.count)
        let patients = try setup.pacs.get("/patients?expand") as? [[String: Any]] ?? []
        XCTAssertEqual(patients.compactMap { ($0["MainDicomTags"] as? [String: Any])?["PatientID"] as? String }, ["H777"])

        // The kiosk's verdicts are kept beside the portal's, and the audit chain covers the whole path.
        var manifests = 0
        for try await count in try await database.client.query("SELECT count(*) FROM batches WHERE manifest IS NOT NULL").decode(Int.self) {
            manifests = count
        }
        XCTAssertEqual(manifests, 1)
        let verify = try run(portal, ["audit", "verify", "--state-dir", setup.state, "--config", setup.config])
        XCTAssertTrue(verify.stdoutText.hasPrefix("audit chain intact"), verify.stdoutText)
        // Core anchored the chain's head outside the database at its start.
        let anchors = try AuditAnchors(path: setup.state + "/audit-anchors").read()
        XCTAssertFalse(anchors.isEmpty)
    }

    private func makeDisc(_ setup: Setup, ct: Int, mr: Int = 2, seed: Int = 1) throws -> String {
        let disc = setup.directory + "/disc-\(seed).iso"
        try run(try TestSupport.tool("python3"), [TestSupport.packageRoot.appendingPathComponent("scripts/make-sample-disc").path,
                                                  "--out", disc, "--ct-images", String(ct), "--mr-images", String(mr), "--seed", String(seed)],
                environment: ["KIOSK_TESTDATA": TestSupport.testDataRoot.path])
        return disc
    }

    /// `kiosk-agent ingest` of `disc` to the portal, the desk confirming the registered patient.
    private func ingest(_ setup: Setup, _ disc: String, kiosk: (config: String, state: String)) throws -> TestSupport.ToolResult {
        try TestSupport.run(kioskAgent, [
            "ingest", disc, "--destination", setup.destination, "--reconcile", "--patient-id", "H777", "--patient-name", "DOE^JANE",
            "--birth-date", "19700101", "--state-dir", kiosk.state, "--config", kiosk.config], check: false)
    }

    private func count(_ database: PortalDatabase, _ sql: String) async throws -> Int {
        for try await value in try await database.client.query(PostgresQuery(unsafeSQL: sql)).decode(Int.self) { return value }
        return 0
    }

    /// A worker killed in the middle of a batch: its lease runs out, another worker takes the batch over and
    /// finishes it; the PACS holds every instance once.
    func testAWorkerKilledMidBatchIsTakenOverAndEveryInstanceArrivesOnce() async throws {
        let setup = try setUpPortal(leaseSeconds: 6)
        let disc = try makeDisc(setup, ct: 60)
        let first = try startWorker(setup, name: "worker-1")
        let ingest = try ingest(setup, disc, kiosk: try kiosk(setup))
        XCTAssertEqual(ingest.status, 0, ingest.stderrText)
        XCTAssertTrue(first.waitFor("batch claimed", seconds: 60), first.output)
        first.kill()
        let database = try database(setup)
        defer { Task { await database.shutdown() } }
        let taken = try await batchStates(database)
        XCTAssertEqual(taken, ["processing"])
        let second = try startWorker(setup, name: "worker-2")
        let states = try await waitForBatches(database, ["delivered"], seconds: 240)
        XCTAssertEqual(states, ["delivered"], second.output)
        XCTAssertTrue(second.output.contains("attempt=2"), "the second worker took the batch over: \(second.output)")
        let uids = try setup.pacs.sopInstanceUIDs()
        XCTAssertEqual(uids.count, 62)
        XCTAssertEqual(Set(uids).count, uids.count, "each instance once")
        // One delivery row per instance, whoever sent it.
        let deliveries = try await count(database, "SELECT count(*) FROM deliveries WHERE state = 'delivered'")
        XCTAssertEqual(deliveries, 62)
    }

    /// The PACS away while a batch is protected: the worker leaves it to a later attempt (the queue's back-off)
    /// and delivers it once the PACS is back.
    func testThePACSDownForAWhile() async throws {
        let setup = try setUpPortal()
        let disc = try makeDisc(setup, ct: 4, mr: 1)
        setup.pacs.kill()
        let worker = try startWorker(setup, name: "worker-1")
        let ingest = try ingest(setup, disc, kiosk: try kiosk(setup))
        XCTAssertEqual(ingest.status, 0, ingest.stderrText)
        XCTAssertTrue(worker.waitFor("it will be retried", seconds: 90), worker.output)
        try setup.pacs.start()
        let database = try database(setup)
        defer { Task { await database.shutdown() } }
        let states = try await waitForBatches(database, ["delivered"], seconds: 120)
        XCTAssertEqual(states, ["delivered"], worker.output)
        XCTAssertEqual(try setup.pacs.sopInstanceUIDs().count, 5)
    }

    /// Core killed while the kiosk uploads: the kiosk keeps its instances in its spool, and once core is back it
    /// resumes each upload where core's staging has it (HEAD), then the batch is delivered once.
    func testCoreKilledMidUploadTheKioskResumes() async throws {
        let setup = try setUpPortal()
        let disc = try makeDisc(setup, ct: 40)
        _ = try startWorker(setup, name: "worker-1")
        let kiosk = try kiosk(setup)
        // The kiosk runs in the background; core is killed once staged bytes appear.
        let log = setup.directory + "/ingest.log"
        let agent = try PortalProcess(kioskAgent, [
            "ingest", disc, "--destination", setup.destination, "--reconcile", "--patient-id", "H777", "--patient-name", "DOE^JANE",
            "--birth-date", "19700101", "--state-dir", kiosk.state, "--config", kiosk.config], log: log)
        let staging = setup.state + "/staging"
        XCTAssertTrue(TestSupport.poll(120) {
            ((try? FileManager.default.contentsOfDirectory(atPath: staging)) ?? []).filter { $0.hasSuffix(".stage") }.count >= 3
        })
        setup.core?.kill()
        XCTAssertTrue(TestSupport.poll(120) { !agent.isRunning }, agent.output)
        // From its summary: Foundation may not have reaped it yet, so its status is not asked for.
        XCTAssertTrue(agent.output.contains("(exit 6)"), "delivery pending: \(agent.output)")

        let core = try PortalProcess(portal, ["core", "--state-dir", setup.state, "--config", setup.config], log: setup.directory + "/core-2.log")
        setup.core = core
        try core.waitListening(setup.port)
        let retry = try TestSupport.run(kioskAgent, ["spool", "retry", "--state-dir", kiosk.state, "--config", kiosk.config], check: false)
        XCTAssertEqual(retry.status, 0, retry.stderrText)
        let database = try database(setup)
        defer { Task { await database.shutdown() } }
        let states = try await waitForBatches(database, ["delivered"], seconds: 180)
        XCTAssertEqual(states, ["delivered"], retry.stderrText + core.output)
        let uids = try setup.pacs.sopInstanceUIDs()
        XCTAssertEqual(uids.count, 42)
        XCTAssertEqual(Set(uids).count, uids.count)
        // One upload per instance: resumed, never started over.
        let uploads = try await count(database, "SELECT count(*) FROM uploads")
        XCTAssertEqual(uploads, 42)
    }

    /// A revoked kiosk is refused at its next connection; its instances wait in its spool, nothing is staged.
    func testARevokedKioskIsRefused() async throws {
        let setup = try setUpPortal()
        let disc = try makeDisc(setup, ct: 2, mr: 1)
        try run(portal, ["kiosk", "revoke", "desk-1", "--state-dir", setup.state, "--config", setup.config])
        let ingest = try ingest(setup, disc, kiosk: try kiosk(setup))
        XCTAssertEqual(ingest.status, 6, ingest.stderrText)
        XCTAssertTrue(ingest.stderrText.contains("refused the kiosk's certificate"), ingest.stderrText)
        let database = try database(setup)
        defer { Task { await database.shutdown() } }
        let uploads = try await count(database, "SELECT count(*) FROM uploads")
        XCTAssertEqual(uploads, 0)
        let refusals = try await count(database, "SELECT count(*) FROM audit WHERE event_type = 'kiosk.refused'")
        XCTAssertGreaterThan(refusals, 0)
    }

    /// PostgreSQL restarted while a batch is protected: core and the worker reconnect, nothing is lost.
    func testTheDatabaseRestartedMidRun() async throws {
        let setup = try setUpPortal(leaseSeconds: 10)
        let disc = try makeDisc(setup, ct: 30)
        let worker = try startWorker(setup, name: "worker-1")
        let ingest = try ingest(setup, disc, kiosk: try kiosk(setup))
        XCTAssertEqual(ingest.status, 0, ingest.stderrText)
        XCTAssertTrue(worker.waitFor("batch claimed", seconds: 60), worker.output)
        let cluster = try EmbeddedPostgres(directory: setup.state + "/postgres")
        try await cluster.stop()
        try await Task.sleep(for: .seconds(2))
        try await cluster.start()
        let database = try database(setup)
        defer { Task { await database.shutdown() } }
        let states = try await waitForBatches(database, ["delivered"], seconds: 240)
        XCTAssertEqual(states, ["delivered"], worker.output)
        let uids = try setup.pacs.sopInstanceUIDs()
        XCTAssertEqual(uids.count, 32)
        XCTAssertEqual(Set(uids).count, uids.count)
        // Core still serves kiosks after the restart.
        let secondDisc = try makeDisc(setup, ct: 2, mr: 1, seed: 2)
        let again = try self.ingest(setup, secondDisc, kiosk: try kiosk(setup, name: "kiosk-2"))
        XCTAssertEqual(again.status, 0, again.stderrText)
    }

    /// A compromised kiosk (a real certificate, a correctly signed manifest claiming all is well) uploads every
    /// hostile class in THREATS.md plus archive attacks: the worker protects them as it would a disc. Nothing
    /// hostile reaches the PACS: every delivered file has an empty preamble and none of the payloads' bytes; the
    /// files that must be refused are absent and rejected in the batch's report; the DICOM behind a zip-slip name
    /// arrives. A truncated archive yields nothing at all, so the batch is held with its uploads kept.
    func testHostileUploadsFromACompromisedKioskNeverReachThePACS() async throws {
        // clamd as a second engine beside libclamav: every part of every file is scanned by both.
        let clamd = try ClamdPeer()
        let setup = try setUpPortal(extra: "[engines]\nclamd_socket = \"\(clamd.socket)\"")
        _ = try startWorker(setup, name: "worker-1")
        let script = TestSupport.packageRoot.appendingPathComponent("Tests/DicomPortalTests/Fixtures/hostile_upload.py").path
        let sent = try TestSupport.run(try TestSupport.tool("python3"), [
            script, "--core", "https://127.0.0.1:\(setup.port)", "--kiosk-dir", setup.kioskFiles, "--session", "hostile-1",
            "--work", setup.directory + "/hostile", "--pydicom-files", try TestSupport.pydicomTestFiles().path],
            environment: ["PYTHONPATH": TestSupport.testDataRoot.appendingPathComponent("pydicom").path], check: false)
        XCTAssertEqual(sent.status, 0, sent.stderrText)
        let answer = try JSONSerialization.jsonObject(with: sent.stdout) as? [String: Any] ?? [:]
        let uploads = answer["uploads"] as? [[String: Any]] ?? []
        XCTAssertEqual(uploads.count, 12)

        let database = try database(setup)
        defer { Task { await database.shutdown() } }
        let states = try await waitForBatches(database, ["held"], seconds: 300)
        XCTAssertEqual(states, ["held"], setup.workers.first?.output ?? "")
        let kept = try await count(database, "SELECT count(*) FROM uploads")
        XCTAssertEqual(kept, 12, "a held batch keeps its uploads")
        var reportText = ""
        for try await text in try await database.client.query("SELECT report::text FROM batches").decode(String.self) { reportText = text }
        let report = try JSONSerialization.jsonObject(with: Data(reportText.utf8)) as? [String: Any] ?? [:]
        let verdicts = Dictionary((report["files"] as? [[String: Any]] ?? []).map { ($0["path"] as? String ?? "", $0["verdict"] as? String ?? "") },
                                  uniquingKeysWith: { first, _ in first })
        for archive in ["bomb.zip", "encrypted.zip", "nested.zip"] {
            let entries = verdicts.filter { $0.key.hasPrefix(archive + "/") }
            XCTAssertFalse(entries.isEmpty, "\(archive) is listed in the report: \(verdicts)")
            XCTAssertTrue(entries.values.allSatisfy { $0 == "rejected" || $0 == "discarded" }, "\(archive): \(entries)")
        }

        var mustArrive: Set<String> = [], mustNotArrive: Set<String> = []
        for upload in uploads {
            let name = upload["name"] as? String ?? "", expect = upload["expect"] as? String ?? ""
            let uids = upload["contains"] as? [String] ?? [upload["sopInstanceUID"] as? String ?? ""]
            switch (name, expect) {
            case ("EICAR.DCM", _): break  // disarmed or rejected by a scanner: either way its bytes are checked below
            case (_, "clean"), (_, "disarmed"): mustArrive.formUnion(uids)
            default: mustNotArrive.formUnion(uids)
            }
        }
        let held = Set(try setup.pacs.sopInstanceUIDs())
        XCTAssertEqual(mustArrive.subtracting(held), [], "delivered: preamble and trailing data removed, zip-slip under a stand-in name")
        XCTAssertEqual(mustNotArrive.intersection(held), [], "the lying length, deep nesting, the executable and the bad archives' contents")

        let eicar = Data(("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").utf8)
        let instances = try setup.pacs.get("/instances") as? [String] ?? []
        XCTAssertEqual(instances.count, held.count)
        for instance in instances {
            let file = try setup.pacs.bytes("/instances/\(instance)/file")
            XCTAssertGreaterThan(file.count, 132)
            XCTAssertTrue(file.prefix(128).allSatisfy { $0 == 0 }, "\(instance): a preamble that is not empty")
            for (payload, what) in [(eicar, "EICAR"), (Data("PK\u{03}\u{04}".utf8), "a ZIP header"), (Data([0x50, 0x45, 0, 0, 0x4C, 0x01]), "a PE header")] {
                XCTAssertNil(file.range(of: payload), "\(instance) holds \(what)")
            }
        }
        let verify = try run(portal, ["audit", "verify", "--state-dir", setup.state, "--config", setup.config])
        XCTAssertTrue(verify.stdoutText.hasPrefix("audit chain intact"), verify.stdoutText)
        withExtendedLifetime(clamd) {}
    }
}
