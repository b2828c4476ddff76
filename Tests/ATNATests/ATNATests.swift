import ATNA
import AuditTrail
import Foundation
import TestSupport
import XCTest

/// The mapping from audit records to PS3.15 A.5.3 messages, their XML and syslog framing, checked
/// against the same rules the repository tests use; hostile values stay inside their attributes.
final class ATNATests: XCTestCase {
    private let mapping = EventMapping(aeTitle: "KIOSK", host: "kiosk-1.clinic.example",
                                       source: AuditSource(id: "kiosk-1", enterpriseSiteID: "Clinic"))

    private func record(_ type: AuditEventType, actor: String = "alice", _ details: [String: String] = [:]) -> AuditRecord {
        AuditRecord(seq: 1, time: Date(timeIntervalSince1970: 1_790_000_000.25), type: type, actor: actor, session: "s1", details: details)
    }

    private func syslog(_ message: AuditMessage) -> String {
        String(decoding: Syslog.message(message.xml(), time: message.time, host: "kiosk-1", processID: 42), as: UTF8.self)
    }

    func testEveryMappedRecordIsAValidMessageOfItsEvent() {
        let study = ["study": "1.2.3", "patientID": "P1", "patientName": "Doe^Jane", "sopClasses": "1.2.840.10008.5.1.4.1.1.2=3;1.2.840.10008.5.1.4.1.1.4=1",
                     "destination": "dicom://PACS@10.0.0.5:104", "host": "10.0.0.5", "source": "/dev/sr0", "media": "cd"]
        let cases: [(AuditRecord, String)] = [
            (record(.serviceStart, actor: "service"), "110100"), (record(.serviceStop, actor: "service"), "110100"),
            (record(.operatorSignIn), "110114"), (record(.operatorSignOut, ["reason": "idle timeout"]), "110114"),
            (record(.operatorSignInFailed, actor: "mallory"), "110114"), (record(.operatorLocked, actor: "mallory"), "110113"),
            (record(.importStudy, study.merging(["override": "no"]) { $1 }), "110107"),
            (record(.transferBegin, study), "110102"),
            (record(.transfer, study.merging(["stored": "3", "failed": "1", "failures": "pacs.unsupported-sop-class"]) { $1 }), "110104"),
            (record(.finding, ["path": "/DICOM/IM1", "codes": "preamble.executable", "sha256": "ab"]), "110113"),
            (record(.quarantine, ["path": "/DICOM/IM2", "codes": "malware.clamav,structure.truncated"]), "110113"),
            (record(.patientUpdated, study.merging(["attributes": "Patient ID set to the hospital's value"]) { $1 }), "110110"),
        ]
        for (record, event) in cases {
            let messages = mapping.messages(for: record)
            XCTAssertEqual(messages.count, 1, record.type.rawValue)
            for message in messages {
                let (id, problems) = ATNARules.check(syslog(message))
                XCTAssertEqual(id, event, record.type.rawValue)
                XCTAssertEqual(problems, [], "\(record.type): \(message.xml())")
            }
        }
        for quiet: AuditEventType in [.sessionStart, .sessionEnd, .identityDecision, .checkpoint] {
            XCTAssertEqual(mapping.messages(for: record(quiet)).count, 0, quiet.rawValue)
        }
        XCTAssertEqual(mapping.messages(for: record(.finding, ["path": "/x", "codes": "private.removed"])).count, 0, "not a threat")
    }

    func testOutcomesFollowWhatHappened() {
        let transfer = { (stored: String, failed: String) in
            self.mapping.messages(for: self.record(.transfer, ["study": "1", "patientID": "P", "stored": stored, "failed": failed]))[0].outcome
        }
        XCTAssertEqual(transfer("3", "0"), .success)
        XCTAssertEqual(transfer("2", "1"), .minorFailure)
        XCTAssertEqual(transfer("0", "2"), .seriousFailure)
        XCTAssertEqual(mapping.messages(for: record(.operatorSignInFailed))[0].outcome, .minorFailure)
        XCTAssertEqual(mapping.messages(for: record(.importStudy, ["study": "1", "patientID": "P", "override": "yes"]))[0].outcome, .minorFailure)
    }

    func testHostileValuesStayInsideTheirAttributes() throws {
        let hostile = "<script>\"x\"&'y'\u{1B}[2J\u{0}"
        let message = mapping.messages(for: record(.importStudy, actor: hostile, ["study": "1", "patientID": hostile, "patientName": hostile,
                                                                                   "source": hostile, "media": "usb"]))[0]
        let (_, problems) = ATNARules.check(syslog(message))
        XCTAssertEqual(problems, [])
        let xml = message.xml()
        XCTAssertFalse(xml.contains("<script>"))
        XCTAssertFalse(xml.unicodeScalars.contains { $0.value < 0x20 }, "no control characters reach the XML")
        XCTAssertTrue(xml.contains("&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;"))
    }

    func testSyslogFraming() {
        let bytes = Syslog.message("<AuditMessage/>", time: Date(timeIntervalSince1970: 0), host: "a host\u{7F}é", processID: 7)
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertEqual(text, "<85>1 1970-01-01T00:00:00.000Z ahost kiosk-agent 7 DICOM+RFC3881 - \u{FEFF}<AuditMessage/>")
        let framed = Syslog.octetCounted(bytes)
        XCTAssertEqual(String(decoding: framed.prefix { $0 != 0x20 }, as: UTF8.self), String(bytes.count))
        XCTAssertEqual(Array(framed.drop { $0 != 0x20 }.dropFirst()), bytes)
    }

    func testRepositoryAddresses() throws {
        XCTAssertEqual(try AuditRepository(parsing: "syslog+tls://audit.example"), AuditRepository(transport: .tls, host: "audit.example", port: 6514))
        XCTAssertEqual(try AuditRepository(parsing: "syslog+udp://10.1.2.3"), AuditRepository(transport: .udp, host: "10.1.2.3", port: 514))
        XCTAssertEqual(try AuditRepository(parsing: "syslog+tls://[::1]:7000").host, "::1")
        for bad in ["syslog://x", "http://x:6514", "syslog+tls://user:pw@x", "syslog+tls://x/path", "syslog+tls://", "not a url"] {
            XCTAssertThrowsError(try AuditRepository(parsing: bad), bad)
        }
    }

    func testTheTrailIsTheQueue() async throws {
        let dir = try TestSupport.TemporaryDirectory("atna-cursor")
        let log = try AuditLog(directory: dir.url)
        try log.append([AuditEvent(.serviceStart, actor: "service"), AuditEvent(.sessionStart, actor: "cli")])
        // A UDP socket we read ourselves stands in for the repository here; rsyslog is in the agent tests.
        let (receiver, port) = TestSupport.loopbackSocket(SOCK_DGRAM)
        defer { close(receiver) }
        let forwarder = AuditForwarder(directory: dir.url, mapping: mapping,
                                       sender: SyslogSender(repository: AuditRepository(transport: .udp, host: "127.0.0.1", port: port), tls: nil, timeoutSeconds: 2))
        XCTAssertEqual(forwarder.queued(), 2)
        let first = await forwarder.forward()
        XCTAssertEqual(first.sent, 2)
        XCTAssertEqual(first.messages, 1, "session.start has no ATNA message")
        XCTAssertEqual(forwarder.queued(), 0)
        try log.append([AuditEvent(.serviceStop, actor: "service")])
        let second = await forwarder.forward()
        XCTAssertEqual(second.sent, 1, "only what is new")
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var received = 0
        while recv(receiver, &buffer, buffer.count, Int32(MSG_DONTWAIT)) > 0 { received += 1 }
        XCTAssertEqual(received, 2)
    }
}
