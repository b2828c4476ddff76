import ATNA
import Foundation
import Logging
import PortalConsole
import PortalStore
import PortalTestSupport
import PostgresNIO
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Core's ATNA forwarding from the central audit table to a syslog receiver on loopback: each portal event becomes
/// the DICOM audit message of its kind, checked against the same PS3.15 rules as the kiosk's; the position resumes
/// after a restart and nothing recorded while the repository is away is lost.
final class PortalATNATests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    private func makeForwarder(_ database: PortalDatabase, port: Int, transport: AuditRepository.Transport = .udp) -> PortalATNAForwarder {
        PortalATNAForwarder(database: database, sender: SyslogSender(repository: AuditRepository(transport: transport, host: "127.0.0.1", port: port),
                                                                     tls: nil, timeoutSeconds: 2),
                            aeTitle: "DICOMPORTAL", host: "core.hospital.example", destination: "dicom://PACS@10.0.0.5:104",
                            auditSourceID: "portal-core", enterpriseSiteID: "Hospital", logger: Logger(label: "test"))
    }

    /// Every datagram waiting on `socket`, as text.
    private func received(_ socket: Int32) -> [String] {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var out: [String] = []
        while true {
            let count = recv(socket, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { return out }
            out.append(String(decoding: buffer.prefix(count), as: UTF8.self))
        }
    }

    private func seed(_ database: PortalDatabase) async throws {
        let tag = UUID().uuidString.prefix(8).lowercased()
        let patient = try await PatientRegistry(database).add(
            RegisteredPatient(patientID: "P-\(tag)", issuer: "HOSP", name: "Doe^Jane", birthDate: "19800101"), actor: "staff:admin")
        let batch = try await BatchStore(database).createPatientBatch(patient: patient).id
        try await database.client.query("""
            UPDATE batches SET report = '{"studies":[{"studyInstanceUID":"1.2.840.1"},{"studyInstanceUID":"1.2.840.2"}]}'::jsonb WHERE id = \(batch)
            """, logger: database.logger)
        let log = AuditLog(database)
        let batchText = JSONValue.string(batch.uuidString.lowercased())
        try await log.append(eventType: "staff.signed-in", actor: "staff:alice", detail: ["staff": .string("alice")])
        try await log.append(eventType: "staff.sign-in-failed", actor: "staff:mallory", detail: ["reason": .string("wrong password")])
        try await log.append(eventType: "patient.viewed", actor: "staff:alice", detail: ["patient": .integer(patient)])
        try await log.append(eventType: "review.approved", actor: "staff:alice", detail: ["batch": batchText, "reason": .string("checked by phone")])
        try await log.append(eventType: AuditEvent.invitationCreated, actor: "staff:alice", detail: ["patient": .integer(patient)])
        try await log.append(eventType: "batch.delivered", actor: "worker:host:1", detail: ["batch": batchText, "delivered": .integer(3)])
        try await log.append(eventType: AuditEvent.manifestStored, actor: "kiosk:k1", detail: ["batch": batchText])
        try await log.append(eventType: AuditEvent.auditExported, actor: "staff:audrey", detail: ["format": .string("csv")])
        try await log.append(eventType: AuditEvent.auditVerified, actor: "staff:audrey", detail: ["result": .string("intact")])
        try await log.append(eventType: "edge.signin.failed", actor: "edge", detail: ["patient": .string(String(patient))])
        try await log.append(eventType: AuditEvent.kioskTrailFailed, actor: "core", detail: ["kiosk": .string("k1"), "problem": .string("line 2 was altered")])
    }

    func testPortalEventsAreValidDICOMAuditMessagesOfTheirKind() async throws {
        let database = try await migratedDatabase(for: self)
        try await seed(database)
        let (receiver, port) = TestSupport.loopbackSocket(SOCK_DGRAM)
        defer { close(receiver) }
        let forwarder = makeForwarder(database, port: port)
        let outcome = await forwarder.forward()
        XCTAssertNil(outcome.error)
        let messages = received(receiver)
        XCTAssertEqual(messages.count, outcome.messages)
        var events: [String] = []
        for message in messages {
            let (event, problems) = ATNARules.check(message)
            XCTAssertEqual(problems, [], message)
            events.append(event ?? "?")
            XCTAssertTrue(message.contains(" dicom-portal "), "APP-NAME")
        }
        // patient.registered (record), then the seeded ones; manifest.stored has no ATNA counterpart.
        XCTAssertEqual(events, ["110110", "110114", "110114", "110110", "110110", "110113", "110104", "110106", "110101", "110114", "110113"])
        let transfer = try XCTUnwrap(messages.first { $0.contains("csd-code=\"110104\"") })
        XCTAssertTrue(transfer.contains("ParticipantObjectID=\"1.2.840.2\""), "the batch's studies")
        XCTAssertTrue(transfer.contains("Doe^Jane"), "the registered patient the batch is for")
        let failed = try XCTUnwrap(messages.first { $0.contains("mallory") })
        XCTAssertTrue(failed.contains("EventOutcomeIndicator=\"4\""))

        // Nothing is sent twice; only what is new goes next time.
        let again = await forwarder.forward()
        XCTAssertEqual(again.records, 0)
        try await AuditLog(database).append(eventType: "staff.signed-out", actor: "staff:alice", detail: [:])
        let next = await forwarder.forward()
        XCTAssertEqual(next.records, 1)
        XCTAssertEqual(received(receiver).map { ATNARules.check($0).eventID }, ["110114"])
    }

    /// Each family of portal events, mapped without a database: the event ID it makes (nil: none), valid by the rules.
    func testEveryFamilyMapsToItsEvent() {
        let mapping = PortalEventMapping(aeTitle: "DICOMPORTAL", host: "10.0.0.9", destination: "dicom://PACS@10.0.0.5:104",
                                         source: AuditSource(id: "portal-core", enterpriseSiteID: nil))
        let patient = PortalAuditRecord.Patient(id: "P1", issuer: "HOSP", name: "Doe^Jane")
        let cases: [(String, String, [String: String], PortalAuditRecord.Patient?, [String], String?)] = [
            ("staff.signed-in", "staff:alice", [:], nil, [], "110114"),
            ("staff.signed-out", "staff:alice", [:], nil, [], "110114"),
            ("staff.locked", "core", ["staff": "mallory"], nil, [], "110113"),
            ("staff.role-assigned", "staff:admin", ["staff": "bob"], nil, [], "110113"),
            ("patient.registered", "staff:alice", ["patient": "4"], patient, [], "110110"),
            ("patient.viewed", "staff:alice", ["patient": "4"], nil, [], "110110"),
            ("review.viewed", "staff:alice", ["batch": "b"], patient, [], "110110"),
            ("review.rejected", "staff:alice", ["batch": "b", "reason": "wrong patient"], patient, [], "110110"),
            ("invitation.sent", "core", ["patient": "4"], patient, [], "110113"),
            ("batch.held", "worker:h:1", ["batch": "b"], patient, ["1.2.3"], "110104"),
            ("batch.failed", "worker:h:1", ["batch": "b"], nil, ["1.2.3"], "110104"),
            ("batch.committed", "kiosk:k1", ["batch": "b"], nil, [], nil),
            ("audit.exported", "staff:audrey", ["format": "csv"], nil, [], "110106"),
            ("audit.access-report", "staff:audrey", ["patient": "4"], patient, [], "110101"),
            ("edge.signin.password-failed", "edge", ["patient": "4"], patient, [], "110114"),
            ("edge.second-factor.replayed", "edge", ["patient": "4"], patient, [], "110114"),
            ("edge.signed-out", "edge", ["patient": "4"], patient, [], "110114"),
            ("edge.account.locked", "edge", ["patient": "4"], patient, [], "110113"),
            ("edge.enrolment.passkey-refused", "edge", ["patient": "4"], nil, [], "110113"),
            ("edge.enrolment.completed", "edge", ["patient": "4"], patient, [], "110113"),
            ("edge.batch.submitted", "edge", ["patient": "4"], patient, [], nil),
            ("kiosk.trail-failed", "core", ["kiosk": "k1", "problem": "altered"], nil, [], "110113"),
            ("kiosk.refused", "core", ["reason": "revoked"], nil, [], "110113"),
            ("link.digest-mismatch", "core", ["batch": "b"], nil, [], "110113"),
            ("manifest.stored", "kiosk:k1", ["batch": "b"], nil, [], nil),
        ]
        for (type, actor, detail, patient, studies, expected) in cases {
            let record = PortalAuditRecord(seq: 1, time: Date(timeIntervalSince1970: 1_790_000_000), type: type, actor: actor, detail: detail,
                                           patient: patient, studies: studies)
            let messages = mapping.messages(for: record)
            XCTAssertEqual(messages.count, expected == nil ? 0 : 1, type)
            for message in messages {
                let text = String(decoding: Syslog.message(message.xml(), time: record.time, host: "core", processID: 1,
                                                           appName: PortalEventMapping.appName), as: UTF8.self)
                let (event, problems) = ATNARules.check(text)
                XCTAssertEqual(event, expected, type)
                XCTAssertEqual(problems, [], "\(type): \(message.xml())")
            }
        }
    }

    func testRecordsWaitWhileTheRepositoryIsAwayAndGoAfterARestart() async throws {
        let database = try await migratedDatabase(for: self)
        let queue = ATNAQueue(database)
        let start = try await queue.position()
        try await seed(database)
        let queued = try await queue.queued()
        XCTAssertGreaterThan(queued, 0)

        // Nothing listens on this port: the TLS connection is refused, and the position stays.
        let away = await makeForwarder(database, port: TestSupport.freePort(), transport: .tls).forward()
        XCTAssertNotNil(away.error)
        XCTAssertEqual(away.records, 0)
        let stayed = try await queue.position()
        XCTAssertEqual(stayed, start)
        let stillQueued = try await queue.queued()
        XCTAssertEqual(stillQueued, queued)

        // A new forwarder (core restarted) resumes from the table's position and sends everything.
        let (receiver, port) = TestSupport.loopbackSocket(SOCK_DGRAM)
        defer { close(receiver) }
        let back = await makeForwarder(database, port: port).forward()
        XCTAssertNil(back.error)
        XCTAssertEqual(Int64(back.records), queued)
        XCTAssertEqual(received(receiver).count, back.messages)
        let empty = try await queue.queued()
        XCTAssertEqual(empty, 0)
        // Two core processes forwarding at once may repeat messages, never move the position back.
        let end = try await queue.position()
        try await queue.advance(to: start)
        let kept = try await queue.position()
        XCTAssertEqual(kept, end)
    }
}
