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
