import Foundation
import PortalStore
import PostgresNIO
import TestSupport
import XCTest

/// The patient portal running for real on loopback, as a browser test needs it: `dicom-portal core` (its private
/// PostgreSQL cluster), `dicom-portal edge` (its own state directory, link files from `dicom-portal edge provision`),
/// aiosmtpd as the hospital's relay, and for uploads a worker, Orthanc as the PACS and clamd as a second engine.
/// Patients' browsers reach the edge as https://localhost:PORT (WebAuthn refuses IP addresses as relying party IDs).
final class PatientPortalRig: @unchecked Sendable {
    let directory: String
    let state: String
    let edgeState: String
    let config: String
    let work: String
    let artefacts: String
    let corePort = TestSupport.freePort()
    let edgePort = TestSupport.freePort()
    let linkPort = TestSupport.freePort()
    let consolePort = TestSupport.freePort()
    let mail: SMTPPeer
    let pacs: OrthancPeer?
    /// Released by stopAll (its deinit stops it).
    private(set) var clamd: ClamdPeer?
    private(set) var core: PortalProcess?
    private(set) var edge: PortalProcess?
    private(set) var workers: [PortalProcess] = []
    private var drivers: [BrowserDriver] = []
    private var edgeStarts = 0
    private var database: PortalDatabase?

    static var portal: String { TestSupport.productsDirectory.appendingPathComponent("dicom-portal").path }
    static let scripts = TestSupport.packageRoot.appendingPathComponent("Tests/Browser/e2e")

    var baseURL: String { "https://localhost:\(edgePort)" }
    /// The staff console core serves on its own listener.
    var consoleURL: String { "https://localhost:\(consolePort)" }

    /// `uploads`: a worker delivering to Orthanc, with clamd beside libclamav; otherwise core keeps to its archive
    /// and no worker runs. `edge`: more [edge] settings.
    init(_ name: String, uploads: Bool, edge extraEdge: String = "") throws {
        // Browsers first: a machine without them skips before anything starts.
        for path in ["/usr/bin/chromium", "/usr/bin/chromedriver"] where !FileManager.default.isExecutableFile(atPath: path) {
            throw XCTSkip("\(path) is missing: run scripts/install-deps (Debian's chromium and chromium-driver)")
        }
        _ = try TestSupport.pythonWith(["selenium", "pyotp", "cryptography"])
        _ = try TestSupport.pydicomTestFiles()
        // Short: the private cluster's socket path must fit in 107 bytes.
        directory = "/tmp/ppb-" + String(UUID().uuidString.prefix(8))
        state = directory + "/core-state"
        edgeState = directory + "/edge-state"
        config = directory + "/portal.toml"
        work = directory + "/work"
        artefacts = TestSupport.packageRoot.appendingPathComponent(".build/artefacts/patient-portal/\(name)").path
        try? FileManager.default.removeItem(atPath: artefacts)
        for path in [work, artefacts] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        print("patient portal screenshots: \(artefacts)")
        mail = try SMTPPeer()
        pacs = uploads ? try OrthancPeer() : nil
        clamd = uploads ? try ClamdPeer() : nil
        try """
            [core]
            listen = "127.0.0.1:\(corePort)"
            [delivery]
            destination = "\(pacs?.dicomURL ?? "archive:")"
            wait_seconds = 10
            retry_base_seconds = 1
            [worker]
            lease_seconds = 60
            [engines]
            \(clamd.map { "clamd_socket = \"\($0.socket)\"" } ?? "")
            [edge]
            listen = "127.0.0.1:\(edgePort)"
            public_url = "https://localhost:\(edgePort)"
            hospital_name = "St Elsewhere Hospital"
            link_listen = "127.0.0.1:\(linkPort)"
            url = "https://127.0.0.1:\(linkPort)"
            poll_interval = 1
            \(extraEdge)
            [console]
            listen = "127.0.0.1:\(consolePort)"
            public_url = "https://localhost:\(consolePort)"
            [mail]
            host = "127.0.0.1"
            port = \(mail.port)
            security = "none"
            from = "portal@hospital.example"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        // The database first: a PKI command on a fresh state directory makes it 0700, and then the private
        // cluster (run as postgres when the tests run as root) cannot reach its directory.
        try portal(["migrate"])
        try portal(["edge", "provision", "--host", "127.0.0.1", "--out", edgeState + "/edge/link"])
        let core = try PortalProcess(Self.portal, ["core", "--state-dir", state, "--config", config], log: directory + "/core.log")
        self.core = core
        try core.waitListening(corePort)
        try startEdge()
        if uploads {
            let worker = try PortalProcess(Self.portal, ["worker", "--state-dir", state, "--config", config], log: directory + "/worker.log")
            workers.append(worker)
            XCTAssertTrue(worker.waitFor("worker ready", seconds: 120), worker.output)
        }
    }

    /// `dicom-portal edge` on the rig's state directory, waiting until it serves both patients and the link.
    func startEdge() throws {
        edgeStarts += 1
        let edge = try PortalProcess(Self.portal, ["edge", "--state-dir", edgeState, "--config", config],
                                     log: directory + "/edge-\(edgeStarts).log")
        self.edge = edge
        try edge.waitListening(edgePort)
        try edge.waitListening(linkPort)
    }

    /// SIGKILL, as a crash would.
    func killEdge() { edge?.kill() }

    /// Drivers first (their browsers), then the product, then the peers; keeps the logs beside the screenshots.
    func stopAll() {
        for driver in drivers { driver.stop() }
        for worker in workers { worker.stop(grace: 30) }
        edge?.stop(grace: 30)
        core?.stop(grace: 60)
        pacs?.stop()
        clamd = nil
        mail.stop()
        let logs = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".log") }
        for log in logs { try? FileManager.default.copyItem(atPath: directory + "/" + log, toPath: artefacts + "/" + log) }
        if let database { Task { await database.shutdown() } }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A `dicom-portal` command on core's state and configuration; fails the test when it does not exit 0.
    @discardableResult
    func portal(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> TestSupport.ToolResult {
        let result = try TestSupport.run(Self.portal, arguments + ["--state-dir", state, "--config", config], check: false)
        if result.status != 0 {
            if result.stderrText.contains("initdb") { throw XCTSkip("PostgreSQL is not installed: \(result.stderrText)") }
            XCTFail("dicom-portal \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderrText)", file: file, line: line)
        }
        return result
    }

    func addPatient(id: String, name: String, birthDate: String, email: String) throws {
        try portal(["patient", "add", "--id", id, "--name", name, "--birth-date", birthDate, "--email", email])
    }

    /// `dicom-portal patient invite`: waits for the e-mail at the relay (addressed to `email`) and until core has
    /// pushed the invitation to the edge. Returns the message's path (the driver reads the link from it).
    func invite(id: String, email: String) async throws -> String {
        let before = mail.received.count
        let answer = try portal(["patient", "invite", "--id", id])
        XCTAssertTrue(answer.stdoutText.contains("e-mailed to \(email)"), answer.stdoutText)
        XCTAssertTrue(TestSupport.poll(60) { mail.received.count > before }, "no invitation e-mail arrived: \(mail.log)")
        let message = try XCTUnwrap(mail.received.last)
        XCTAssertEqual(message.envelope["rcpt_tos"] as? [String], [email])
        XCTAssertEqual(message.envelope["mail_from"] as? String, "portal@hospital.example")
        let path = work + "/invitation-\(id).eml"
        try message.data.write(to: URL(fileURLWithPath: path))
        let pushed = try await waitUntil(seconds: 90) {
            try await self.count("SELECT count(*) FROM invitations WHERE pushed_at IS NULL AND revoked_at IS NULL") == 0
        }
        XCTAssertTrue(pushed, "core did not push the invitation to the edge: \(core?.output ?? "")")
        return path
    }

    // MARK: kiosks

    static var kioskAgent: String { TestSupport.productsDirectory.appendingPathComponent("kiosk-agent").path }

    /// `dicom-portal kiosk add NAME`: the kiosk's certificate files, a configuration naming them, its own state.
    func addKiosk(_ name: String) throws -> (config: String, state: String) {
        let files = directory + "/\(name)-files"
        try portal(["kiosk", "add", name, "--out", files])
        let config = directory + "/\(name).toml"
        try """
            [portal]
            certificate = "\(files)/kiosk.crt"
            key = "\(files)/kiosk.key"
            ca_file = "\(files)/portal-ca.crt"
            [delivery]
            wait_seconds = 20
            retry_base_seconds = 1
            """.write(toFile: config, atomically: true, encoding: .utf8)
        return (config, directory + "/\(name)-state")
    }

    /// A generated disc (`scripts/make-sample-disc`) from `institution`, for `name`.
    func sampleDisc(_ label: String, ct: Int, mr: Int, seed: Int, name: String, birthDate: String, institution: String) throws -> String {
        let disc = work + "/\(label).iso"
        let result = try TestSupport.run(try TestSupport.tool("python3"), [
            TestSupport.packageRoot.appendingPathComponent("scripts/make-sample-disc").path, "--out", disc, "--ct-images", String(ct),
            "--mr-images", String(mr), "--seed", String(seed), "--patient-name", name, "--birth-date", birthDate, "--institution", institution,
        ], environment: ["KIOSK_TESTDATA": TestSupport.testDataRoot.path], check: false)
        XCTAssertEqual(result.status, 0, result.stderrText)
        return disc
    }

    /// `kiosk-agent ingest` of `disc` to core, the desk confirming the registered patient (reconciled to its ID).
    func ingest(_ disc: String, kiosk: (config: String, state: String), patientID: String, name: String, birthDate: String) throws {
        let result = try TestSupport.run(Self.kioskAgent, [
            "ingest", disc, "--destination", "portal+https://127.0.0.1:\(corePort)", "--reconcile", "--patient-id", patientID,
            "--patient-name", name, "--birth-date", birthDate, "--state-dir", kiosk.state, "--config", kiosk.config,
        ], check: false)
        XCTAssertEqual(result.status, 0, "kiosk-agent ingest: \(result.stderrText)")
    }

    /// `dicom-portal patient unlock`, and waits until core has passed it to the edge.
    func unlock(id: String) async throws {
        try portal(["patient", "unlock", "--id", id])
        let pushed = try await waitUntil(seconds: 90) {
            try await self.count("SELECT count(*) FROM patients WHERE edge_unlock_requested_at IS NOT NULL") == 0
        }
        XCTAssertTrue(pushed, "core did not push the unlock to the edge: \(core?.output ?? "")")
    }

    // MARK: what core holds

    func openDatabase() throws -> PortalDatabase {
        if let database { return database }
        let cluster = try EmbeddedPostgres(directory: state + "/postgres")
        let opened = try PortalDatabase(settings: cluster.settings)
        database = opened
        return opened
    }

    func count(_ sql: String) async throws -> Int {
        for try await value in try await openDatabase().client.query(PostgresQuery(unsafeSQL: sql)).decode(Int.self) { return value }
        return 0
    }

    func strings(_ sql: String) async throws -> [String] {
        var values: [String] = []
        for try await value in try await openDatabase().client.query(PostgresQuery(unsafeSQL: sql)).decode(String.self) { values.append(value) }
        return values
    }

    func waitUntil(seconds: Double, _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(300))
        }
        return try await condition()
    }

    /// The audit chain's event types from the edge (core takes them at its polls), waiting until `expected` are in.
    func edgeEvents(including expected: Set<String>, seconds: Double = 60) async throws -> [String] {
        let query = "SELECT event_type FROM audit WHERE actor = 'edge' ORDER BY seq"
        _ = try await waitUntil(seconds: seconds) { expected.isSubset(of: Set(try await self.strings(query))) }
        return try await strings(query)
    }

    // MARK: drivers

    /// Tests/Browser/e2e/console_staff.py on the staff console.
    func consoleDriver(_ arguments: [String]) throws -> BrowserDriver {
        try driver("console_staff.py", arguments, baseURL: consoleURL)
    }

    /// Starts Tests/Browser/e2e/`script` with the rig's edge (or `baseURL`), work and artefact directories.
    func driver(_ script: String, _ arguments: [String], baseURL: String? = nil) throws -> BrowserDriver {
        let (python, environment) = try TestSupport.pythonWith(["selenium", "pyotp"])
        let driver = try BrowserDriver(
            python, [Self.scripts.appendingPathComponent(script).path, "--base-url", baseURL ?? self.baseURL, "--work", work, "--artefacts", artefacts] + arguments,
            log: directory + "/driver-\(drivers.count + 1)-\(script.replacingOccurrences(of: ".py", with: "")).log",
            environment: environment.merging([
                "PYTHONPATH": environment["PYTHONPATH", default: ""] + ":" + TestSupport.pythonPath,
                "SE_OFFLINE": "true", "PYTHONUNBUFFERED": "1",
            ]) { $1 },
            work: work)
        drivers.append(driver)
        return driver
    }
}

/// One scenario's Python driver: `STEP name` lines to wait for, go-NAME files to let it go on, and its `RESULT`.
final class BrowserDriver: @unchecked Sendable {
    let process: PortalProcess
    let work: String

    init(_ python: String, _ arguments: [String], log: String, environment: [String: String], work: String) throws {
        process = try PortalProcess(python, arguments, log: log, environment: environment)
        self.work = work
    }

    var output: String { process.output }

    /// Waits for the driver's `STEP name`; false when it ended first or time ran out.
    func waitStep(_ name: String, seconds: Double = 300) -> Bool { process.waitFor("STEP \(name)", seconds: seconds) }

    /// The JSON a `STEP name {…}` line carries.
    func stepDetails(_ name: String) -> [String: Any] {
        let line = output.split(separator: "\n").first { $0.hasPrefix("STEP \(name) ") }
        guard let json = line?.dropFirst("STEP \(name) ".count) else { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
    }

    /// Lets the driver go on past `wait_for_go(work, name)`.
    func go(_ name: String) {
        _ = FileManager.default.createFile(atPath: work + "/go-\(name)", contents: Data())
    }

    /// Waits for the driver to end and returns its RESULT; fails the test with its output when it failed.
    func finish(seconds: Double = 600, file: StaticString = #filePath, line: UInt = #line) -> [String: Any] {
        guard TestSupport.poll(seconds, { !process.isRunning }) else {
            XCTFail("the driver did not finish in \(Int(seconds)) s:\n\(output)", file: file, line: line)
            process.stop(grace: 5)
            return [:]
        }
        let last = output.split(separator: "\n").last { $0.hasPrefix("RESULT ") }
        guard let json = last?.dropFirst("RESULT ".count),
              let result = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] else {
            XCTFail("the driver printed no result:\n\(output)", file: file, line: line)
            return [:]
        }
        if result["error"] != nil { XCTFail("the driver failed:\n\(output)", file: file, line: line) }
        return result
    }

    func stop() { process.stop(grace: 10) }
}

/// What the browser tests send and find: make_folders.py's folders, Orthanc's instances, core's batch states.
extension PatientPortalRig {
    /// A patient enrolled with a passkey, for the upload scenarios.
    func passkeyPatient(id: String, name: String, birthDate: String, email: String) async throws {
        try addPatient(id: id, name: name, birthDate: birthDate, email: email)
        let mail = try await invite(id: id, email: email)
        let dashed = "\(birthDate.prefix(4))-\(birthDate.dropFirst(4).prefix(2))-\(birthDate.suffix(2))"
        _ = try driver("enrol_passkey.py", ["--mail", mail, "--email", email, "--password", "copper kettle on a winter stove",
                                                "--birth-date", dashed]).finish()
    }

    /// A file make_folders.py wrote, as its manifest describes it.
    struct SentFile {
        let path: String
        let sopInstanceUID: String
        let studyInstanceUID: String
        let patientName: String
        let fileSHA256: String
        let pixelSHA256: String?
        let expect: String

        init(_ json: [String: Any]) {
            path = json["path"] as? String ?? ""
            sopInstanceUID = json["sopInstanceUID"] as? String ?? ""
            studyInstanceUID = json["studyInstanceUID"] as? String ?? ""
            patientName = json["patientName"] as? String ?? ""
            fileSHA256 = json["fileSHA256"] as? String ?? ""
            pixelSHA256 = json["pixelSHA256"] as? String
            expect = json["expect"] as? String ?? ""
        }
    }

    /// Tests/Browser/e2e/make_folders.py: folders of pydicom's test files rewritten for the patient.
    func makeFolders(_ kinds: [String], name: String, birthDate: String) throws -> [String: (folder: String, files: [SentFile])] {
        let made = try TestSupport.run(try TestSupport.tool("python3"), [
            Self.scripts.appendingPathComponent("make_folders.py").path, "--pydicom-files", try TestSupport.pydicomTestFiles().path,
            "--out", directory + "/folders", "--name", name, "--birth-date", birthDate, "--seed", UUID().uuidString] + kinds,
            environment: ["PYTHONPATH": TestSupport.pythonPath])
        let manifest = try JSONSerialization.jsonObject(with: made.stdout) as? [String: [String: Any]] ?? [:]
        return manifest.mapValues { ($0["folder"] as? String ?? "", ($0["files"] as? [[String: Any]] ?? []).map(SentFile.init)) }
    }

    /// Orthanc's instances by SOP Instance UID (several when one arrived more than once).
    func orthancInstances(_ pacs: OrthancPeer) throws -> [String: [String]] {
        let instances = try pacs.get("/instances?expand") as? [[String: Any]] ?? []
        var bySOP: [String: [String]] = [:]
        for instance in instances {
            guard let id = instance["ID"] as? String, let sop = (instance["MainDicomTags"] as? [String: Any])?["SOPInstanceUID"] as? String else { continue }
            bySOP[sop, default: []].append(id)
        }
        return bySOP
    }

    /// The state core gave the batch the edge knows as `edgeBatch`.
    func coreState(edgeBatch: String) async throws -> String? {
        guard let uuid = UUID(uuidString: edgeBatch) else { return nil }
        return try await strings("SELECT state FROM batches WHERE edge_batch::text = '\(uuid.uuidString.lowercased())'").first
    }
}
