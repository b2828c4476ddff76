import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PortalConsole
import PortalCore
import PortalPKI
import PortalStore
import PortalTestSupport
import PostgresNIO
import ServiceLifecycle
import SessionReport
import Uploads
import XCTest

/// The review queue over a real PostgreSQL cluster: held batches with reports as the worker writes them, the reasons
/// the queue derives from them, each decision with its audit record, two reviewers deciding at once, and the purge of
/// a rejected batch's staged bytes after its retention.
final class ReviewQueueTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    private let reviewer = SignedInStaff(id: 1, username: "rita", displayName: "Rita", role: .reviewer)
    private let auditor = SignedInStaff(id: 2, username: "audrey", displayName: "Audrey", role: .auditor)

    // MARK: fixtures

    private func patient(_ database: PortalDatabase, id: String, name: String, birth: String) async throws -> Int64 {
        try await PatientRegistry(database).add(RegisteredPatient(patientID: id, issuer: "", name: name, birthDate: birth, sex: "F"), actor: "test")
    }

    /// A study as the worker's report has it: the headers as on the media, the identity check's reasons.
    private func study(_ uid: String, name: String, id: String, birth: String, identity: IdentityResult, reasons: [String]?) -> Study {
        var study = Study(studyInstanceUID: uid, patientName: name, patientID: id, birthDate: birth, description: "CT chest", modalities: ["CT"],
                          instances: 3, identity: identity, series: 1)
        study.identityReasons = reasons
        study.identityScore = reasons == nil ? nil : 25
        study.institutions = ["Elsewhere Hospital"]
        study.studyDate = "20240102"
        study.mediaPatient = Study.MediaPatient(name: name, id: id, issuer: "OTHER", birthDate: birth, sex: "M")
        return study
    }

    private func report(_ studies: [Study], dicom: Int = 3, rejected: [Finding] = [], mediaFindings: [Finding] = []) -> Report {
        var report = Report(source: .init(path: "upload", filesystem: "upload", label: "files"))
        report.studies = studies
        report.media.findings = mediaFindings
        report.files = (0..<dicom).map { index in
            FileRecord(path: "files/IM\(index)", size: 100, sha256: String(repeating: "a", count: 64), kind: .dicom, verdict: .clean,
                       sopInstanceUID: "1.2.3.\(index)", studyInstanceUID: studies.first?.studyInstanceUID, delivery: .none)
        }
        if !rejected.isEmpty {
            report.files.append(FileRecord(path: "files/BAD", size: 10, kind: .dicom, verdict: .rejected, findings: rejected))
        }
        report.totals.files = report.files.count
        report.totals.dicom = dicom + (rejected.isEmpty ? 0 : 1)
        report.totals.rejected = rejected.isEmpty ? 0 : 1
        return report
    }

    /// Marks the batch held with `report` and `problems`, as the worker records it.
    private func hold(_ database: PortalDatabase, _ batch: UUID, _ report: Report, problems: [String] = []) async throws {
        let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        try await database.client.query("""
            UPDATE batches SET state = 'held', report = \(json)::jsonb, problems = \(problems), processed_at = now(), review_state = 'pending'
            WHERE id = \(batch)
            """)
    }

    private func audit(_ database: PortalDatabase, _ type: String, batch: UUID) async throws -> [(actor: String, detail: String)] {
        var found: [(String, String)] = []
        for try await row in try await database.client.query("""
            SELECT actor, detail::text FROM audit WHERE event_type = \(type) AND detail->>'batch' = \(batch.uuidString.lowercased()) ORDER BY seq
            """).decode((String, String).self) { found.append(row) }
        return found
    }

    private func scalar<T: PostgresDecodable & Sendable>(_ database: PortalDatabase, _ query: PostgresQuery, as: T.Type) async throws -> T? {
        for try await value in try await database.client.query(query).decode(T.self) { return value }
        return nil
    }

    // MARK: the queue

    func testTheQueueListsHeldBatchesFromPatientsAndKiosksWithTheirReasons() async throws {
        let database = try await migratedDatabase(for: self)
        let jane = try await patient(database, id: "Q100", name: "DOE^JANE", birth: "19700101")
        let batches = BatchStore(database)

        // Every compared field differs: a mismatch; the name agrees but the birth date not: a partial match.
        let mismatch = try await batches.createPatientBatch(patient: jane).id
        try await hold(database, mismatch, report([study("1.1", name: "ROE^RICHARD", id: "X9", birth: "19550505", identity: .mismatch,
                                                         reasons: ["birth date differs", "name differs"])]))
        let partial = try await batches.createPatientBatch(patient: jane).id
        try await hold(database, partial, report([
            study("2.1", name: "DOE^JANE", id: "X1", birth: "19710101", identity: .mismatch, reasons: ["birth date differs", "name matches"]),
        ], rejected: [Finding(.structureTruncated, .high, "truncated")]))
        // An upload whose bytes changed and nothing else deliverable.
        let changed = try await batches.createPatientBatch(patient: jane).id
        try await hold(database, changed, report([], dicom: 0), problems: ["upload 0123: \(BatchProblem.changedBytes)"])
        // A kiosk session with two patients on the disc, the desk naming the registered patient.
        _ = try await database.client.query("""
            INSERT INTO kiosks (name, certificate_serial, certificate_fingerprint) VALUES ('desk-1', '01', 'ff01')
            """)
        let kiosk = try await batches.kioskBatch(kiosk: "desk-1", session: "S-1").id
        var kioskReport = report([
            study("3.1", name: "DOE^JANE", id: "Q100", birth: "19700101", identity: .match, reasons: ["birth date matches", "name matches"]),
            study("3.2", name: "ROE^RICHARD", id: "X9", birth: "19550505", identity: .mismatch, reasons: ["birth date differs", "name differs"]),
        ], mediaFindings: [Finding(.identityMultiplePatients, .medium, "two patients")])
        kioskReport.expectedPatient = .init(id: "Q100", name: "DOE^JANE", birthDate: "19700101")
        try await hold(database, kiosk, kioskReport)
        // Delivered and decided batches are not in the queue.
        let delivered = try await batches.createPatientBatch(patient: jane).id
        _ = try await database.client.query("UPDATE batches SET state = 'delivered' WHERE id = \(delivered)")

        let queue = ReviewQueue(database)
        // The class's tests share one database: look at this test's batches.
        let mine = Set([mismatch, partial, changed, kiosk, delivered].map { $0.uuidString.lowercased() })
        let items = try await queue.queue().filter { mine.contains($0.batch) }
        XCTAssertEqual(items.map(\.batch), [mismatch, partial, changed, kiosk].map { $0.uuidString.lowercased() })
        let reasons = Dictionary(uniqueKeysWithValues: items.map { ($0.batch, $0.reasons) })
        XCTAssertEqual(reasons[mismatch.uuidString.lowercased()], [.identityMismatch])
        XCTAssertEqual(reasons[partial.uuidString.lowercased()], [.partialMatch, .rejectedFiles])
        XCTAssertEqual(reasons[changed.uuidString.lowercased()], [.changedBytes, .nothingDeliverable])
        XCTAssertEqual(reasons[kiosk.uuidString.lowercased()], [.identityMismatch, .severalPatients])
        let kioskItem = try XCTUnwrap(items.last)
        XCTAssertEqual(kioskItem.source, .kiosk)
        XCTAssertEqual(kioskItem.kiosk, "desk-1")
        XCTAssertEqual(kioskItem.registered?.id, jane, "the desk's patient found in the registry")
        XCTAssertEqual(kioskItem.desk?.name, "DOE^JANE")

        await assertEqual(try await queue.queue(.init(source: .kiosk)).map(\.batch).filter(mine.contains), [kiosk.uuidString.lowercased()])
        await assertEqual(try await queue.queue(.init(source: .portal, reason: .partialMatch)).map(\.batch).filter(mine.contains),
                       [partial.uuidString.lowercased()])

        // Opening an item shows the headers beside the registered patient, names each field's comparison, and is audited.
        let detail = try await unwrap(try await queue.open(partial, actor: "staff:rita"))
        XCTAssertEqual(detail.item.registered?.name, "DOE^JANE")
        XCTAssertEqual(detail.studies.count, 1)
        let held = detail.studies[0]
        XCTAssertEqual(held.header.issuer, "OTHER")
        XCTAssertEqual(held.header.sex, "M")
        XCTAssertEqual(held.header.birthDate, "19710101")
        XCTAssertEqual(held.fields, ["name": .match, "birthDate": .differs, "patientID": .notCompared])
        XCTAssertEqual(held.reason, .partialMatch)
        XCTAssertEqual(detail.findings.map(\.code), ["structure.truncated"])
        let viewed = try await audit(database, AuditEvent.reviewViewed, batch: partial)
        XCTAssertEqual(viewed.map(\.actor), ["staff:rita"])
        XCTAssertTrue(viewed[0].detail.contains("\"patient\": \(jane)"), viewed[0].detail)
    }

    // MARK: decisions

    func testEachDecisionChangesTheBatchEnqueuesItsJobAndIsAudited() async throws {
        let database = try await migratedDatabase(for: self)
        let jane = try await patient(database, id: "D100", name: "DOE^JANE", birth: "19700101")
        let john = try await patient(database, id: "D200", name: "ROE^JOHN", birth: "19550505")
        let batches = BatchStore(database)
        let held = report([study("9.1", name: "ROE^JOHN", id: "X9", birth: "19550505", identity: .mismatch, reasons: ["birth date differs", "name differs"])])
        let approve = try await batches.createPatientBatch(patient: jane).id
        let reject = try await batches.createPatientBatch(patient: jane).id
        let reassign = try await batches.createPatientBatch(patient: jane).id
        for batch in [approve, reject, reassign] { try await hold(database, batch, held) }
        let queue = ReviewQueue(database, protectAttempts: 3)

        try await queue.decide(.approve, batch: approve, reviewer: "rita", actor: "staff:rita", reason: "same person, old ID from the other site")
        try await queue.decide(.reject(retentionDays: 30), batch: reject, reviewer: "rita", actor: "staff:rita", reason: "not our patient")
        try await queue.decide(.reassign(patient: john), batch: reassign, reviewer: "rita", actor: "staff:rita", reason: "uploaded for her husband")

        struct Row: Equatable { var state: String; var review: String?; var by: String?; var reason: String?; var assigned: Int64?; var purgeDays: Int? }
        func row(_ batch: UUID) async throws -> Row? {
            for try await (state, review, by, reason, assigned, days) in try await database.client.query("""
                SELECT state, review_state, reviewed_by, review_reason, assigned_patient,
                       round(extract(epoch FROM purge_after - reviewed_at) / 86400)::int
                FROM batches WHERE id = \(batch) AND reviewed_at IS NOT NULL
                """).decode((String, String?, String?, String?, Int64?, Int?).self) {
                return Row(state: state, review: review, by: by, reason: reason, assigned: assigned, purgeDays: days)
            }
            return nil
        }
        let approved = try await row(approve), rejected = try await row(reject), reassigned = try await row(reassign)
        XCTAssertEqual(approved, Row(state: "committed", review: "approved", by: "rita", reason: "same person, old ID from the other site"))
        XCTAssertEqual(rejected, Row(state: "held", review: "rejected", by: "rita", reason: "not our patient", purgeDays: 30))
        XCTAssertEqual(reassigned, Row(state: "committed", review: "reassigned", by: "rita", reason: "uploaded for her husband", assigned: john))

        // Approve and reassign put the batch's job back on the queue, saying which decision it carries out.
        var jobs: [UUID: (String, Int)] = [:]
        for try await (batch, payload, attempts) in try await database.client.query("""
            SELECT batch, payload::text, max_attempts FROM jobs WHERE kind = 'protect' AND batch = ANY(\([approve, reject, reassign]))
            """).decode((UUID, String, Int).self) { jobs[batch] = (payload, attempts) }
        XCTAssertEqual(Set(jobs.keys), [approve, reassign])
        XCTAssertEqual(try JSONValue.parse(try XCTUnwrap(jobs[approve]?.0)),
                       .object(["batch": .string(approve.uuidString.lowercased()), "review": .string("approved")]))
        XCTAssertEqual(jobs[reassign]?.1, 3)

        let approval = try await audit(database, AuditEvent.reviewApproved, batch: approve)
        XCTAssertEqual(approval.map(\.actor), ["staff:rita"])
        XCTAssertTrue(approval[0].detail.contains("\"reason\": \"same person, old ID from the other site\""), approval[0].detail)
        XCTAssertTrue(approval[0].detail.contains("\"patient\": \(jane)"), approval[0].detail)
        await assertEqual(try await audit(database, AuditEvent.reviewRejected, batch: reject).count, 1)
        let reassignment = try await audit(database, AuditEvent.reviewReassigned, batch: reassign)
        XCTAssertTrue(reassignment[0].detail.contains("\"assignedPatient\": \(john)"), reassignment[0].detail)
        XCTAssertTrue(reassignment[0].detail.contains("\"patient\": \(jane)"), reassignment[0].detail)
        let left = try await queue.queue().map(\.batch)
        XCTAssertTrue(Set([approve, reject, reassign].map { $0.uuidString.lowercased() }).isDisjoint(with: left), "decided batches leave the queue")
        let records = try await scalar(database, "SELECT count(*)::int FROM audit", as: Int.self) ?? 0
        await assertEqual(try await AuditLog(database).verify(), .intact(records: records))
    }

    func testASecondDecisionIsRefusedAndAReasonIsRequired() async throws {
        let database = try await migratedDatabase(for: self)
        let jane = try await patient(database, id: "C100", name: "DOE^JANE", birth: "19700101")
        let batch = try await BatchStore(database).createPatientBatch(patient: jane).id
        try await hold(database, batch, report([study("5.1", name: "ROE^JOHN", id: "X9", birth: "19550505", identity: .mismatch, reasons: ["name differs"])]))
        let queue = ReviewQueue(database)
        do {
            try await queue.decide(.approve, batch: batch, reviewer: "rita", actor: "staff:rita", reason: "  ")
            XCTFail("a decision without a reason")
        } catch let error as ReviewError { XCTAssertEqual(error, .reasonRequired) }
        do {
            try await queue.decide(.reassign(patient: 999_999), batch: batch, reviewer: "rita", actor: "staff:rita", reason: "someone")
            XCTFail("a reassignment to nobody")
        } catch let error as ReviewError { XCTAssertEqual(error, .unknownPatient(999_999)) }

        // Two reviewers at once: exactly one decision is recorded, the other is told someone decided first.
        let outcomes = await withTaskGroup(of: Result<Void, any Error>.self) { group in
            for (name, decision) in [("rita", ReviewDecision.approve), ("ray", .reject(retentionDays: 30))] {
                group.addTask {
                    do { try await queue.decide(decision, batch: batch, reviewer: name, actor: "staff:" + name, reason: "mine"); return .success(()) }
                    catch { return .failure(error) }
                }
            }
            var all: [Result<Void, any Error>] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        XCTAssertEqual(outcomes.filter { if case .success = $0 { true } else { false } }.count, 1)
        let refusal = outcomes.compactMap { if case .failure(let error) = $0 { error as? ReviewError } else { nil } }
        XCTAssertEqual(refusal.count, 1)
        if case .notPending? = refusal.first {} else { XCTFail("\(refusal)") }
        let decisions = try await database.client.query("""
            SELECT count(*)::int FROM audit WHERE event_type IN ('review.approved', 'review.rejected') AND detail->>'batch' = \(batch.uuidString.lowercased())
            """).decode(Int.self)
        for try await count in decisions { XCTAssertEqual(count, 1) }
    }

    // MARK: the API

    func testTheAPIListsOpensAndDecidesAndRefusesAnAuditorAndASecondDecision() async throws {
        let database = try await migratedDatabase(for: self)
        let jane = try await patient(database, id: "A100", name: "DOE^JANE", birth: "19700101")
        let batch = try await BatchStore(database).createPatientBatch(patient: jane).id
        try await hold(database, batch, report([study("7.1", name: "ROE^JOHN", id: "X9", birth: "19550505", identity: .mismatch, reasons: ["name differs"])]))
        let app = ConsoleTestApp.application([ReviewAPI(database: database, logger: Logger(label: "test"), retentionDays: 7)])
        let auditor = self.auditor, reviewer = self.reviewer
        let id = batch.uuidString.lowercased()
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/review?source=portal&reason=identity-mismatch", method: .get,
                                     headers: ConsoleTestApp.headers(auditor)) { response in
                XCTAssertEqual(response.status, .ok)
                let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                let items = (object?["items"] as? [[String: Any]] ?? []).filter { $0["batch"] as? String == id }
                XCTAssertEqual(items.count, 1)
                XCTAssertEqual(items.first?["reasons"] as? [String], ["identity-mismatch"])
            }
            try await client.execute(uri: "/api/review?reason=bogus", method: .get, headers: ConsoleTestApp.headers(auditor)) { response in
                XCTAssertEqual(response.status, .badRequest)
            }
            try await client.execute(uri: "/api/review/\(id)", method: .get, headers: ConsoleTestApp.headers(auditor)) { response in
                XCTAssertEqual(response.status, .ok)
                let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                let studies = object?["studies"] as? [[String: Any]]
                XCTAssertEqual((studies?.first?["header"] as? [String: Any])?["name"] as? String, "ROE^JOHN")
            }
            let body = ByteBuffer(string: #"{"reason": "checked with the patient"}"#)
            try await client.execute(uri: "/api/review/\(id)/approve", method: .post, headers: ConsoleTestApp.headers(auditor, json: true),
                                     body: body) { response in
                XCTAssertEqual(response.status, .forbidden)
            }
            try await client.execute(uri: "/api/review/\(id)/reassign", method: .post, headers: ConsoleTestApp.headers(auditor, json: true),
                                     body: ByteBuffer(string: #"{"patient": "x"}"#)) { response in
                XCTAssertEqual(response.status, .forbidden, "an auditor is refused before the body is read")
            }
            try await client.execute(uri: "/api/review/\(UUID().uuidString.lowercased())", method: .get,
                                     headers: ConsoleTestApp.headers(auditor)) { response in
                XCTAssertEqual(response.status, .notFound)
            }
            try await client.execute(uri: "/api/review", method: .get, headers: ConsoleTestApp.headers(nil)) { response in
                XCTAssertEqual(response.status, .unauthorized)
            }
            try await client.execute(uri: "/api/review/\(id)/reject", method: .post, headers: ConsoleTestApp.headers(reviewer, json: true),
                                     body: ByteBuffer(string: #"{"reason": ""}"#)) { response in
                XCTAssertEqual(response.status, .badRequest)
            }
            try await client.execute(uri: "/api/review/\(id)/reject", method: .post, headers: ConsoleTestApp.headers(reviewer, json: true),
                                     body: body) { response in
                XCTAssertEqual(response.status, .ok)
            }
            try await client.execute(uri: "/api/review/\(id)/approve", method: .post, headers: ConsoleTestApp.headers(reviewer, json: true),
                                     body: body) { response in
                XCTAssertEqual(response.status, .conflict)
                let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                XCTAssertEqual(object?["error"] as? String, "already-decided")
            }
        }
        let days = try await scalar(database, "SELECT round(extract(epoch FROM purge_after - reviewed_at) / 86400)::int FROM batches WHERE id = \(batch)",
                                    as: Int.self)
        XCTAssertEqual(days, 7, "[review] retention_days")
    }

    // MARK: purge

    func testCoresSweepPurgesARejectedBatchOnlyAfterItsRetentionWithItsStagedBytesAndQuarantine() async throws {
        let database = try await migratedDatabase(for: self)
        let jane = try await patient(database, id: "P100", name: "DOE^JANE", birth: "19700101")
        let staged = try await BatchStore(database).createPatientBatch(patient: jane)
        let directory = NSTemporaryDirectory() + "review-purge-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
        let store = try FileStagingStore(directory: directory + "/staging")
        let registry = PostgresUploadRegistry(database)
        var ids: [UploadID] = []
        for _ in 0..<2 {
            let id = UploadID.random()
            let key = SymmetricKey(data: staged.stagingKey)
            try await store.create(id, key: key)
            let append = try await store.beginAppend(id, key: key, at: 0)
            try await append.write(ByteBuffer(string: "DICM bytes of someone else"))
            let length = try await append.commit()
            try await registry.create(UploadRecord(id: id, batch: staged.id.uuidString.lowercased(), owner: UploadOwner("patient:\(jane)"),
                                                   length: length, offset: length, metadata: [], expires: Date().addingTimeInterval(3600)))
            ids.append(id)
        }
        // The worker on core's machine quarantined the batch's run (read-only originals), and another batch's.
        let quarantine = directory + "/worker/quarantine"
        let held = quarantine + "/\(staged.id.uuidString.lowercased())-1/original"
        let other = quarantine + "/\(UUID().uuidString.lowercased())-1"
        for path in [held, other] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        XCTAssertTrue(FileManager.default.createFile(atPath: held + "/IM0", contents: Data("DICM".utf8), attributes: [.posixPermissions: 0o400]))
        try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: held)

        try await hold(database, staged.id, report([study("8.1", name: "ROE^JOHN", id: "X9", birth: "19550505", identity: .mismatch, reasons: ["name differs"])]))
        let queue = ReviewQueue(database)
        try await queue.decide(.reject(retentionDays: 30), batch: staged.id, reviewer: "rita", actor: "staff:rita", reason: "not ours")

        let authority = try PortalAuthority.openOrCreate(directory: directory + "/ca", organization: "St Example Hospital")
        var settings = PortalCore.Configuration(host: "127.0.0.1", port: 0, stagingDirectory: directory + "/staging")
        settings.purgeInterval = .milliseconds(200)
        settings.workerState = directory + "/worker"
        var logger = Logger(label: "review-purge")
        logger.logLevel = .critical
        let core = try PortalCore(configuration: settings, database: database, authority: authority, logger: logger)
        let services = ServiceGroup(services: [core], gracefulShutdownSignals: [], logger: logger)
        let running = Task { try await services.run() }
        defer { running.cancel() }

        func purgedAt() async throws -> Date? {
            try await scalar(database, "SELECT purged_at FROM batches WHERE id = \(staged.id)", as: Date?.self) ?? nil
        }
        // Within the retention nothing is purged, however often the sweep runs.
        try await Task.sleep(for: .seconds(1))
        await assertNil(try await purgedAt())
        await assertEqual(Set(try await store.list()), Set(ids))

        // The retention has ended (the clock moved on).
        _ = try await database.client.query("UPDATE batches SET purge_after = now() - interval '1 second' WHERE id = \(staged.id)")
        let purged = try await eventually(20) { try await purgedAt() != nil }
        XCTAssertTrue(purged, "core's sweep purged the batch")
        await services.triggerGracefulShutdown()
        _ = await running.result

        await assertTrue(try await store.list().isEmpty, "the staged files are removed")
        for id in ids { XCTAssertFalse(FileManager.default.fileExists(atPath: "\(directory)/staging/\(id.rawValue).stage")) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: held), "the worker's quarantine of the batch is removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: other), "another batch's quarantine stays")
        let states = try await database.client.query("SELECT DISTINCT state FROM uploads WHERE batch = \(staged.id)").decode(String.self)
        for try await state in states { XCTAssertEqual(state, "purged") }
        let records = try await audit(database, AuditEvent.reviewPurged, batch: staged.id)
        XCTAssertEqual(records.map(\.actor), ["core"])
        XCTAssertTrue(records.first?.detail.contains("\"patient\": \(jane)") ?? false, "\(records)")
        // Purged once: nothing is due any more.
        await assertEqual(try await queue.purgeDue(actor: "core") { _ in XCTFail("purged twice") }, 0)
    }
}
