import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PortalConsole
import PortalCore
import PortalStore
import PortalTestSupport
import PostgresNIO
import TestSupport
import XCTest

/// The patients area over a real PostgreSQL, with aiosmtpd as the hospital's relay: search and account states, a
/// patient's page with their uploads (audited as a view), registering, the CSV import, and invite, resend, revoke,
/// unlock and second-factor reset, each audited, each refused to a role without `managePatients`.
final class PatientsAPITests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    static let administrator = SignedInStaff(id: 1, username: "ada", displayName: "Ada", role: .administrator)
    static let reviewer = SignedInStaff(id: 2, username: "rita", displayName: "Rita", role: .reviewer)
    static let auditor = SignedInStaff(id: 3, username: "audrey", displayName: "Audrey", role: .auditor)

    struct Answer {
        let status: HTTPResponse.Status
        let text: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
        var error: String? { json["error"] as? String }
        var patient: [String: Any] { json["patient"] as? [String: Any] ?? [:] }
    }

    static func call(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ path: String, as staff: SignedInStaff?,
                     json: Any? = nil, csv: String? = nil) async throws -> Answer {
        var headers = ConsoleTestApp.headers(staff, json: json != nil)
        var body: ByteBuffer?
        if let json { body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)) }
        if let csv {
            headers[.contentType] = "text/csv"
            body = ByteBuffer(string: csv)
        }
        let response = try await client.executeRequest(uri: path, method: method, headers: headers, body: body)
        return Answer(status: response.status, text: String(buffer: response.body))
    }

    /// A migrated database of the test's own on the class's cluster: the tests count patients and audit records.
    func ownDatabase() async throws -> PortalDatabase {
        let cluster = try await TestClusters.shared.cluster(for: String(describing: type(of: self)))
        let admin = try PortalDatabase(settings: cluster.settings)
        let name = "p_" + UUID().uuidString.prefix(8).lowercased()
        try await admin.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        await admin.shutdown()
        var settings = cluster.settings
        settings.database = name
        let database = try PortalDatabase(settings: settings)
        addTeardownBlock { await database.shutdown() }
        try await Migrator.migrate(database)
        return database
    }

    func makeAPI(_ database: PortalDatabase, relayPort: Int?) throws -> PatientsAPI {
        var logger = Logger(label: "patients-api-test")
        logger.logLevel = .critical
        let mailer = try relayPort.map {
            try InvitationMailer(host: "127.0.0.1", port: $0, security: "none", username: nil, passwordFile: nil, from: "portal@hospital.example",
                                 fromName: "Patient portal", caFile: nil, heloName: "core.test")
        }
        let inviter = PatientInviter(database: database, publicURL: "https://portal.hospital.example/", hospital: "St Elsewhere",
                                     lifetime: 72 * 3600, mailer: mailer)
        return PatientsAPI(database: database, logger: logger, inviter: inviter, defaultIssuer: "HOSP",
                           csvLimits: PatientCSV.Limits(maxBytes: 4096, maxRows: 20, maxFieldBytes: 256))
    }

    static func audit(_ database: PortalDatabase, _ eventType: String) async throws -> [(actor: String, detail: String)] {
        var records: [(String, String)] = []
        for try await row in try await database.client.query("""
            SELECT actor, detail::text FROM audit WHERE event_type = \(eventType) ORDER BY seq
            """).decode((String, String).self) { records.append(row) }
        return records.map { (actor: $0.0, detail: $0.1) }
    }

    static func single(_ database: PortalDatabase, _ sql: String) async throws -> String? {
        for try await value in try await database.client.query(PostgresQuery(unsafeSQL: sql)).decode(String?.self) { return value }
        return nil
    }

    // MARK: -

    func testRegisterSearchAndPermissions() async throws {
        let database = try await ownDatabase()
        let app = ConsoleTestApp.application([try makeAPI(database, relayPort: nil)])
        try await app.test(.router) { client in
            var answer = try await Self.call(client, .get, "/api/patients", as: nil)
            XCTAssertEqual(answer.status, .unauthorized)
            let jane: [String: Any] = ["patientID": "H100", "name": "Doe^Jane", "birthDate": "19800215", "sex": "f", "email": "jane@example.org"]
            answer = try await Self.call(client, .post, "/api/patients", as: Self.auditor, json: jane)
            XCTAssertEqual(answer.status, .forbidden)
            XCTAssertEqual(answer.error, "forbidden")

            answer = try await Self.call(client, .post, "/api/patients", as: Self.reviewer, json: jane)
            XCTAssertEqual(answer.status, .created, answer.text)
            XCTAssertEqual(answer.patient["issuer"] as? String, "HOSP", "the configured issuer stands in")
            XCTAssertEqual(answer.patient["sex"] as? String, "F")
            XCTAssertEqual(answer.patient["state"] as? String, "none")
            let janeID = try XCTUnwrap(answer.patient["id"] as? Int)

            answer = try await Self.call(client, .post, "/api/patients", as: Self.reviewer, json: jane)
            XCTAssertEqual(answer.status, .conflict)
            XCTAssertEqual(answer.error, "patient.exists")
            XCTAssertEqual(answer.json["message"] as? String, "Patient H100 (issuer HOSP) is already registered.")

            for (body, message) in [
                (["patientID": "H101", "name": "Doe^Jim", "birthDate": "19800230"], "The birth date must be a real date written YYYYMMDD."),
                (["patientID": "H101", "name": "", "birthDate": "19800101"], "The name is missing (DICOM form Family^Given)."),
                (["patientID": "H101", "name": "Doe\\Jim", "birthDate": "19800101"],
                 "The name must be DICOM form Family^Given (a family name, at most 5 components, no backslash or =)."),
                (["patientID": "H101", "name": "Doe^Jim", "birthDate": "19800101", "sex": "Q"], "Sex must be M, F or O."),
                (["patientID": "H101", "name": "Doe^Jim", "birthDate": "19800101", "email": "jim at example"], "'jim at example' is not an e-mail address."),
                (["name": "Doe^Jim", "birthDate": "19800101"], "The Patient ID is missing."),
            ] {
                answer = try await Self.call(client, .post, "/api/patients", as: Self.administrator, json: body)
                XCTAssertEqual(answer.status, .badRequest, "\(body)")
                XCTAssertEqual(answer.error, "patient.invalid")
                XCTAssertEqual(answer.json["message"] as? String, message)
            }
            for (id, name, email) in [("H200", "Roe^Richard", "rr@example.org"), ("X300", "Smith^Jane", nil), ("H201", "100%^Sure", nil)] {
                var body: [String: Any] = ["patientID": id, "name": name, "birthDate": "19700101", "issuer": "OTHER"]
                if let email { body["email"] = email }
                answer = try await Self.call(client, .post, "/api/patients", as: Self.administrator, json: body)
                XCTAssertEqual(answer.status, .created, answer.text)
            }

            func ids(_ query: String) async throws -> [String] {
                let answer = try await Self.call(client, .get, "/api/patients?\(query)", as: Self.auditor)
                XCTAssertEqual(answer.status, .ok, answer.text)
                return (answer.json["patients"] as? [[String: Any]] ?? []).compactMap { $0["patientID"] as? String }
            }
            let all = try await ids("")
            XCTAssertEqual(all, ["H201", "H100", "H200", "X300"], "name order")
            let byName = try await ids("q=jane")
            XCTAssertEqual(byName, ["H100", "X300"])
            let byTwoTerms = try await ids("q=jane%20smith")
            XCTAssertEqual(byTwoTerms, ["X300"])
            let byIDPrefix = try await ids("q=h2")
            XCTAssertEqual(byIDPrefix, ["H201", "H200"])
            let byEmail = try await ids("q=rr%40example")
            XCTAssertEqual(byEmail, ["H200"])
            let literalPercent = try await ids("q=100%25")
            XCTAssertEqual(literalPercent, ["H201"], "% is matched as itself")
            answer = try await Self.call(client, .get, "/api/patients?limit=2&offset=2", as: Self.auditor)
            XCTAssertEqual(answer.json["total"] as? Int, 4)
            XCTAssertEqual((answer.json["patients"] as? [[String: Any]])?.count, 2)
            answer = try await Self.call(client, .get, "/api/patients?limit=1000", as: Self.auditor)
            XCTAssertEqual(answer.status, .badRequest)

            let registered = try await Self.audit(database, "patient.registered")
            XCTAssertEqual(registered.count, 4)
            XCTAssertEqual(registered.first?.actor, "staff:rita")
            XCTAssertEqual(registered.first?.detail, "{\"patient\": \(janeID)}")
        }
    }

    func testImportValidatesFirstThenRegistersRowByRow() async throws {
        let database = try await ownDatabase()
        try await PatientRegistry(database).add(RegisteredPatient(patientID: "H9", issuer: "HOSP", name: "Known^Kim", birthDate: "19600101"), actor: "test")
        let app = ConsoleTestApp.application([try makeAPI(database, relayPort: nil)])
        let csv = "\u{FEFF}name,patient_id,birth_date,email\r\n"
            + "\"Doe^Jane\",H1,19800215,jane@example.org\r\n"
            + "\"O'Brien^Mary, Jr\",H2,19551231,\r\n"
            + "Known^Kim,H9,19600101,\r\n"
            + "Bad^Date,H3,19801301,\r\n"
            + "\"Doe^Jane\",H1,19800215,\r\n"
            + "Short^Row,H4\r\n"
        try await app.test(.router) { client in
            var answer = try await Self.call(client, .post, "/api/patients/import?dryRun=true", as: Self.auditor, csv: csv)
            XCTAssertEqual(answer.status, .forbidden)

            answer = try await Self.call(client, .post, "/api/patients/import?dryRun=true", as: Self.reviewer, csv: csv)
            XCTAssertEqual(answer.status, .ok, answer.text)
            XCTAssertEqual(answer.json["dryRun"] as? Bool, true)
            var rows = answer.json["rows"] as? [[String: Any]] ?? []
            XCTAssertEqual(rows.compactMap { $0["line"] as? Int }, [2, 3, 4, 5, 6, 7])
            XCTAssertEqual(rows.compactMap { $0["outcome"] as? String }, ["valid", "valid", "existing", "invalid", "duplicate", "invalid"])
            XCTAssertEqual(rows[3]["message"] as? String, "The birth date must be a real date written YYYYMMDD.")
            XCTAssertEqual(rows[4]["message"] as? String, "The same patient as line 2.")
            XCTAssertEqual(rows[5]["message"] as? String, "2 fields where the header names 4.")
            await assertEqual(try await Self.single(database, "SELECT count(*)::text FROM patients"), "1", "a dry run writes nothing")
            await assertEqual(try await Self.audit(database, AuditEvent.patientImported).count, 0)

            answer = try await Self.call(client, .post, "/api/patients/import", as: Self.reviewer, csv: csv)
            XCTAssertEqual(answer.status, .ok, answer.text)
            rows = answer.json["rows"] as? [[String: Any]] ?? []
            XCTAssertEqual(rows.compactMap { $0["outcome"] as? String }, ["registered", "registered", "existing", "invalid", "duplicate", "invalid"])
            XCTAssertEqual(answer.json["counts"] as? [String: Int],
                           ["registered": 2, "existing": 1, "duplicate": 1, "invalid": 2, "valid": 0])
            await assertEqual(try await Self.single(database, "SELECT name FROM patients WHERE patient_id = 'H2' AND issuer = 'HOSP'"), "O'Brien^Mary, Jr")
            let imported = try await Self.audit(database, AuditEvent.patientImported)
            XCTAssertEqual(imported.count, 1)
            XCTAssertEqual(imported.first?.actor, "staff:rita")
            let counts = try JSONSerialization.jsonObject(with: Data((imported.first?.detail ?? "").utf8)) as? [String: Int]
            XCTAssertEqual(counts, ["duplicate": 1, "existing": 1, "invalid": 2, "registered": 2, "rows": 6, "valid": 0])
            await assertEqual(try await Self.audit(database, "patient.registered").count, 3, "one for the seed, one per registered row")

            // Importing the same file again (as the page sends it) registers nobody.
            answer = try await Self.call(client, .post, "/api/patients/import", as: Self.administrator, json: ["csv": csv])
            XCTAssertEqual((answer.json["counts"] as? [String: Int])?["existing"], 3)

            // The file as a whole: its header, its size, its rows.
            answer = try await Self.call(client, .post, "/api/patients/import?dryRun=1", as: Self.reviewer, csv: "patient_id,name\nH1,Doe^J\n")
            XCTAssertEqual(answer.status, .badRequest)
            XCTAssertEqual(answer.error, "csv.invalid")
            XCTAssertEqual(answer.json["message"] as? String, "Line 1: the column 'birth_date' is missing.")
            answer = try await Self.call(client, .post, "/api/patients/import?dryRun=1", as: Self.reviewer,
                                         csv: "patient_id,name,birth_date\n" + String(repeating: "H1,Doe^J,19800101\n", count: 21))
            XCTAssertEqual(answer.error, "csv.invalid")
            XCTAssertEqual(answer.json["message"] as? String, "The file has more than 20 patients: split it into smaller files.")
            answer = try await Self.call(client, .post, "/api/patients/import?dryRun=1", as: Self.reviewer,
                                         csv: "patient_id,name,birth_date\n" + String(repeating: "H1,Doe^J,19800101\n", count: 300))
            XCTAssertEqual(answer.status, .contentTooLarge)
            XCTAssertEqual(answer.error, "csv.too-large")
            answer = try await Self.call(client, .post, "/api/patients/import", as: Self.reviewer, csv: "patient_id,name,birth_date\nH5,\"Open^Quote,19800101\n")
            XCTAssertEqual(answer.error, "csv.invalid")
            await assertEqual(try await Self.audit(database, AuditEvent.patientImported).count, 2, "a refused file is no import")
        }
    }

    func testInviteResendAndRevokeThroughTheRelay() async throws {
        let database = try await ownDatabase()
        let relay = try SMTPPeer(["--refuse", "bounce@example.org"])
        defer { relay.stop() }
        let registry = PatientRegistry(database)
        let jane = try await registry.add(RegisteredPatient(patientID: "H1", issuer: "HOSP", name: "DOE^JANE", birthDate: "19800215",
                                                            email: "jane@example.org"), actor: "test")
        let noMail = try await registry.add(RegisteredPatient(patientID: "H2", issuer: "HOSP", name: "Roe^Rick", birthDate: "19800215"), actor: "test")
        let bounce = try await registry.add(RegisteredPatient(patientID: "H3", issuer: "HOSP", name: "Bo^Unce", birthDate: "19800215",
                                                              email: "bounce@example.org"), actor: "test")
        let app = ConsoleTestApp.application([try makeAPI(database, relayPort: relay.port)])
        try await app.test(.router) { client in
            var answer = try await Self.call(client, .post, "/api/patients/\(jane)/invite", as: Self.auditor)
            XCTAssertEqual(answer.status, .forbidden)
            answer = try await Self.call(client, .post, "/api/patients/\(jane)/resend", as: Self.reviewer)
            XCTAssertEqual(answer.error, "invitation.none")

            answer = try await Self.call(client, .post, "/api/patients/\(jane)/invite", as: Self.reviewer)
            XCTAssertEqual(answer.status, .ok, answer.text)
            XCTAssertEqual(answer.patient["state"] as? String, "pending")
            let first = try XCTUnwrap((answer.json["invitation"] as? [String: Any])?["id"] as? Int)
            XCTAssertNotNil((answer.patient["invitation"] as? [String: Any])?["sentAt"] as? String)
            var received = relay.received
            XCTAssertEqual(received.count, 1)
            XCTAssertEqual(received.first?.envelope["rcpt_tos"] as? [String], ["jane@example.org"], "\(received.first?.envelope ?? [:])")
            let message = String(decoding: received.first?.data ?? Data(), as: UTF8.self)
            XCTAssertTrue(message.contains("https://portal.hospital.example/enrol.html#token="), message)
            XCTAssertTrue(message.contains("Dear Jane Doe"), message)

            answer = try await Self.call(client, .post, "/api/patients/\(jane)/invite", as: Self.reviewer)
            XCTAssertEqual(answer.status, .conflict)
            XCTAssertEqual(answer.error, "invitation.live")

            // Resend: a new invitation, the old one revoked (the link tells the edge, whose copy then stops working).
            answer = try await Self.call(client, .post, "/api/patients/\(jane)/resend", as: Self.reviewer)
            XCTAssertEqual(answer.status, .ok, answer.text)
            XCTAssertEqual(answer.json["replaced"] as? Int, first)
            received = relay.received
            XCTAssertEqual(received.count, 2)
            let links = received.compactMap { String(decoding: $0.data, as: UTF8.self).components(separatedBy: "#token=").dropFirst().first?.prefix(20) }
            XCTAssertEqual(Set(links).count, 2, "each invitation has its own token")
            await assertEqual(try await Self.single(database, "SELECT count(*)::text FROM invitations WHERE patient = \(jane) AND revoked_at IS NULL"), "1")
            let pushed = try await EdgeLinkStore(database).patientsToPush().first { $0.ref == jane }
            XCTAssertNotNil(pushed?.liveInvitationSHA256)

            answer = try await Self.call(client, .post, "/api/patients/\(jane)/revoke", as: Self.administrator)
            XCTAssertEqual(answer.status, .ok, answer.text)
            XCTAssertEqual(answer.patient["state"] as? String, "revoked")
            answer = try await Self.call(client, .post, "/api/patients/\(jane)/revoke", as: Self.administrator)
            XCTAssertEqual(answer.error, "invitation.none")
            let toPush = try await EdgeLinkStore(database).patientsToPush().first { $0.ref == jane }
            XCTAssertNotNil(toPush, "a revocation is pushed to the edge")
            XCTAssertNil(toPush?.liveInvitationSHA256, "and tells it no invitation may work")

            answer = try await Self.call(client, .post, "/api/patients/\(noMail)/invite", as: Self.reviewer)
            XCTAssertEqual(answer.error, "patient.no-email")

            // A relay refusal revokes the invitation nobody received.
            answer = try await Self.call(client, .post, "/api/patients/\(bounce)/invite", as: Self.reviewer)
            XCTAssertEqual(answer.status, .badGateway, answer.text)
            XCTAssertEqual(answer.error, "mail.failed")
            await assertEqual(try await Self.single(database, "SELECT count(*)::text FROM invitations WHERE patient = \(bounce) AND revoked_at IS NULL"), "0")

            answer = try await Self.call(client, .post, "/api/patients/999/invite", as: Self.reviewer)
            XCTAssertEqual(answer.status, .notFound)
        }
        let created = try await Self.audit(database, AuditEvent.invitationCreated)
        XCTAssertEqual(created.map(\.actor), ["staff:rita", "staff:rita", "staff:rita"])
        let sent = try await Self.audit(database, AuditEvent.invitationSent)
        XCTAssertEqual(sent.count, 2)
        XCTAssertTrue(sent.allSatisfy { $0.detail.contains("\"patient\": \(jane)") }, "\(sent)")
        let revoked = try await Self.audit(database, AuditEvent.invitationRevoked)
        XCTAssertEqual(revoked.map(\.actor), ["staff:ada", "staff:rita"])
        XCTAssertTrue(revoked[0].detail.contains("\"patient\": \(jane)") && revoked[0].detail.contains("revoked by staff"), revoked[0].detail)
        XCTAssertTrue(revoked[1].detail.contains("\"patient\": \(bounce)") && revoked[1].detail.contains("could not be sent"), revoked[1].detail)
    }

    func testAPatientsPageListsEveryUploadOfTheirsAndIsAudited() async throws {
        let database = try await ownDatabase()
        let registry = PatientRegistry(database)
        let jane = try await registry.add(RegisteredPatient(patientID: "H1", issuer: "HOSP", name: "Doe^Jane", birthDate: "19800215"), actor: "test")
        _ = try await registry.add(RegisteredPatient(patientID: "H2", issuer: "HOSP", name: "Roe^Rick", birthDate: "19800215"), actor: "test")
        var kiosk: Int64 = 0
        for try await id in try await database.client.query("""
            INSERT INTO kiosks (name, certificate_serial, certificate_fingerprint) VALUES ('desk-1', '01', 'ff') RETURNING id
            """).decode(Int64.self) { kiosk = id }
        let portal = UUID(), desk = UUID(), pending = UUID(), other = UUID(), reassigned = UUID()
        try await database.client.query("""
            INSERT INTO batches (id, patient, state, processed_at, report) VALUES (\(portal), \(jane), 'delivered', now(),
                '{"totals": {"files": 3, "dicom": 2, "delivered": 2, "rejected": 0}, "studies": [{"identity": "match"}]}')
            """)
        try await database.client.query("""
            INSERT INTO batches (id, kiosk, kiosk_session, state, review_state, created_at, report) VALUES (\(desk), \(kiosk), 's1', 'held', 'pending',
                now() - interval '1 day',
                '{"expectedPatient": {"id": "H1"}, "totals": {"files": 5, "dicom": 5, "delivered": 3, "rejected": 1},
                  "studies": [{"identity": "mismatch"}, {"identity": "match"}]}')
            """)
        try await database.client.query("""
            INSERT INTO batches (id, kiosk, kiosk_session, state, created_at, manifest, manifest_signature, manifest_instances, manifest_at)
            VALUES (\(pending), \(kiosk), 's2', 'committed', now() - interval '2 days',
                    convert_to('{"report": {"expectedPatient": {"id": "H1"}}}', 'UTF8'), 'sig', '[]', now())
            """)
        try await database.client.query("""
            INSERT INTO batches (id, kiosk, kiosk_session, state, report) VALUES (\(other), \(kiosk), 's3', 'delivered',
                '{"expectedPatient": {"id": "H2"}, "totals": {"files": 1}}')
            """)
        try await database.client.query("""
            INSERT INTO batches (id, kiosk, kiosk_session, state, created_at, review_state, reviewed_by, reviewed_at, assigned_patient, report)
            VALUES (\(reassigned), \(kiosk), 's4', 'held', now() - interval '3 days', 'reassigned', 'staff:rita', now(), \(jane),
                    '{"expectedPatient": {"id": "X9"}, "totals": {"files": 1, "dicom": 1, "delivered": 0, "rejected": 0}}')
            """)
        let app = ConsoleTestApp.application([try makeAPI(database, relayPort: nil)])
        try await app.test(.router) { client in
            var answer = try await Self.call(client, .get, "/api/patients/\(jane)", as: nil)
            XCTAssertEqual(answer.status, .unauthorized)
            answer = try await Self.call(client, .get, "/api/patients/\(jane)", as: Self.auditor)
            XCTAssertEqual(answer.status, .ok, answer.text)
            XCTAssertEqual(answer.patient["patientID"] as? String, "H1")
            let uploads = answer.json["uploads"] as? [[String: Any]] ?? []
            XCTAssertEqual(uploads.compactMap { $0["batch"] as? String },
                           [portal, desk, pending, reassigned].map { $0.uuidString.lowercased() }, "newest first; not the other patient's")
            XCTAssertEqual(uploads.compactMap { $0["source"] as? String }, ["portal", "kiosk", "kiosk", "kiosk"])
            XCTAssertEqual(uploads[0]["files"] as? Int, 3)
            XCTAssertEqual(uploads[0]["heldStudies"] as? Int, 0)
            XCTAssertEqual(uploads[1]["kiosk"] as? String, "desk-1")
            XCTAssertEqual(uploads[1]["delivered"] as? Int, 3)
            XCTAssertEqual(uploads[1]["rejected"] as? Int, 1)
            XCTAssertEqual(uploads[1]["heldStudies"] as? Int, 1)
            XCTAssertEqual(uploads[1]["reviewState"] as? String, "pending")
            XCTAssertTrue(uploads[2]["files"] is NSNull, "no report yet")
            XCTAssertEqual(uploads[2]["state"] as? String, "committed")
            XCTAssertEqual(uploads[3]["reviewedBy"] as? String, "staff:rita")

            answer = try await Self.call(client, .get, "/api/patients/424242", as: Self.auditor)
            XCTAssertEqual(answer.status, .notFound)
            XCTAssertEqual(answer.error, "patient.not-found")
            answer = try await Self.call(client, .get, "/api/patients/x", as: Self.auditor)
            XCTAssertEqual(answer.status, .notFound)
        }
        let viewed = try await Self.audit(database, AuditEvent.patientViewed)
        XCTAssertEqual(viewed.count, 1, "only a page that exists was viewed")
        XCTAssertEqual(viewed.first?.actor, "staff:audrey")
        XCTAssertEqual(viewed.first?.detail, "{\"patient\": \(jane)}")
    }

    func testResetUnlockAndTheAccountStateFromTheEdgesEvents() async throws {
        let database = try await ownDatabase()
        let jane = try await PatientRegistry(database).add(
            RegisteredPatient(patientID: "H1", issuer: "HOSP", name: "Doe^Jane", birthDate: "19800215", email: "jane@example.org"), actor: "test")
        _ = try await InvitationStore(database).issue(patient: jane, lifetime: 3600, actor: "test")
        let link = EdgeLinkStore(database)
        let app = ConsoleTestApp.application([try makeAPI(database, relayPort: nil)])
        try await app.test(.router) { client in
            var seq: Int64 = 0
            func edgeSays(_ type: String) async throws {
                seq += 1
                try await link.take([EdgeEvent(seq: seq, at: "2026-12-05T01:00:00Z", type: type, patient: String(jane), address: nil,
                                               detail: .object([:]))])
            }
            func state() async throws -> (String?, Bool?) {
                let answer = try await Self.call(client, .get, "/api/patients?q=H1", as: Self.auditor)
                let patient = (answer.json["patients"] as? [[String: Any]])?.first
                return (patient?["state"] as? String, patient?["locked"] as? Bool)
            }
            var now = try await state()
            XCTAssertEqual(now.0, "pending")
            try await edgeSays("enrolment.completed")
            now = try await state()
            XCTAssertEqual(now.0, "enrolled")
            XCTAssertEqual(now.1, false)
            try await edgeSays("account.locked")
            now = try await state()
            XCTAssertEqual(now.1, true)

            var answer = try await Self.call(client, .post, "/api/patients/\(jane)/unlock", as: Self.auditor)
            XCTAssertEqual(answer.status, .forbidden)
            answer = try await Self.call(client, .post, "/api/patients/\(jane)/unlock", as: Self.reviewer)
            XCTAssertEqual(answer.status, .ok, answer.text)
            XCTAssertNotNil(answer.patient["unlockRequestedAt"] as? String)
            let unlocks = try await link.toPush(.unlock)
            XCTAssertEqual(unlocks.map(\.patient), [jane])
            try await edgeSays("account.unlocked")
            now = try await state()
            XCTAssertEqual(now.1, false)

            answer = try await Self.call(client, .post, "/api/patients/\(jane)/reset-second-factor", as: Self.auditor)
            XCTAssertEqual(answer.status, .forbidden)
            answer = try await Self.call(client, .post, "/api/patients/\(jane)/reset-second-factor", as: Self.reviewer)
            XCTAssertEqual(answer.status, .ok, answer.text)
            XCTAssertEqual(answer.patient["state"] as? String, "reset")
            XCTAssertNotNil(answer.patient["resetRequestedAt"] as? String)
            let resets = try await link.toPush(.secondFactorReset)
            XCTAssertEqual(resets.map(\.patient), [jane])
            try await link.pushed(.secondFactorReset, patient: jane, requestedAt: try XCTUnwrap(resets.first).requestedAt)
            let left = try await link.toPush(.secondFactorReset)
            XCTAssertTrue(left.isEmpty)

            // Invited again: pending until the edge reports the new enrolment.
            _ = try await InvitationStore(database).issue(patient: jane, lifetime: 3600, actor: "test")
            now = try await state()
            XCTAssertEqual(now.0, "pending")
            try await edgeSays("enrolment.completed")
            now = try await state()
            XCTAssertEqual(now.0, "enrolled")

            answer = try await Self.call(client, .post, "/api/patients/77/reset-second-factor", as: Self.reviewer)
            XCTAssertEqual(answer.status, .notFound)
        }
        let reset = try await Self.audit(database, AuditEvent.patientSecondFactorReset)
        XCTAssertEqual(reset.map(\.actor), ["staff:rita"])
        XCTAssertEqual(reset.first?.detail, "{\"patient\": \(jane)}")
        let pushed = try await Self.audit(database, AuditEvent.linkResetPushed)
        XCTAssertEqual(pushed.map(\.actor), ["core"])
        let unlock = try await Self.audit(database, AuditEvent.unlockRequested)
        XCTAssertEqual(unlock.map(\.actor), ["staff:rita"])
    }
}
