import Credentials
import Foundation
import Logging
import PortalCore
import PortalStore
import PortalTestSupport
import PostgresNIO
import ServiceLifecycle
import TestSupport
import XCTest

/// Core's `EdgeLink` against the real edge: a patient registered and invited in core's database is pushed, enrols
/// through the edge, uploads and submits; core takes the batch into its staging and queue, the edge forgets the
/// bytes; core's verdict comes back to the patient's page; the edge's security events land in core's audit chain.
final class EdgeLinkIntegrationTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    func testAnInvitedPatientsUploadReachesCoresQueueAndTheVerdictComesBack() async throws {
        let database = try await migratedDatabase(for: self)
        try await LinkedEdge.run(database, label: "edge-link-test") { edge in
            let patient = try await PatientRegistry(database).add(
                RegisteredPatient(patientID: "H1001", issuer: "", name: "DOE^JANE", birthDate: "19800215", email: "jane@example.org"), actor: "test")
            let invitation = try await InvitationStore(database).issue(patient: patient, lifetime: 72 * 3600, actor: "test")

            // The link pushes the patient and the invitation; the e-mailed token then works at the edge.
            let browser = BrowserSession(edge)
            var pushed = false
            for _ in 0..<100 where !pushed {
                try await browser.begin()
                pushed = try await browser.request(.POST, "/api/enrol/start", json: ["token": invitation.token]).status == .ok
                if !pushed { try await Task.sleep(for: .milliseconds(200)) }
            }
            XCTAssertTrue(pushed, "the invitation never reached the edge")
            try await browser.request(.POST, "/api/enrol/birth-date", json: ["birthDate": "1980-02-15"])
            try await browser.request(.POST, "/api/enrol/password", json: ["password": EdgeAccountTests.password, "confirmation": EdgeAccountTests.password])
            let secret = try await browser.request(.POST, "/api/enrol/totp/begin").json["secret"] as? String ?? ""
            let totp = TOTP(secret: Base32.decode(secret) ?? [])
            try await browser.request(.POST, "/api/enrol/totp/finish", json: ["code": totp.code(at: edge.clock.now)])
            let done = try await browser.request(.POST, "/api/enrol/done")
            XCTAssertEqual(done.json["state"] as? String, "signed-in", done.text)

            let created = try await browser.request(.POST, "/api/batches")
            let batch = try XCTUnwrap(created.json["id"] as? String)
            let files: [(String, [UInt8])] = [("DICOM/IM1", (0..<700_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }), ("DICOMDIR", Array("DICM".utf8))]
            for (name, bytes) in files { _ = try await EdgeUploadTests.upload(browser, batch: batch, name: name, bytes: bytes, chunk: 262_144) }
            let submitted = try await browser.request(.POST, "/api/batches/\(batch)/submit", json: ["consent": true, "summary": ["studies": []]])
            XCTAssertEqual(submitted.json["state"] as? String, "submitted", submitted.text)

            // Core takes it: a committed patient batch with the edge's id, its job queued, the bytes in core's staging.
            let committed = try await eventually(60) {
                try await LinkedEdge.single(database, "SELECT state FROM batches WHERE edge_batch = '\(batch)'") == "committed"
            }
            XCTAssertTrue(committed, "core did not commit the edge's batch")
            await assertEqual(try await LinkedEdge.single(database, "SELECT count(*)::text FROM uploads u JOIN batches b ON b.id = u.batch WHERE b.edge_batch = '\(batch)' AND u.state = 'complete'"), "2")
            await assertEqual(try await LinkedEdge.single(database, "SELECT count(*)::text FROM jobs j JOIN batches b ON b.id = j.batch WHERE b.edge_batch = '\(batch)'"), "1")
            let received = try await eventually(30) {
                try await browser.request(.GET, "/api/batches/\(batch)").json["state"] as? String == "received"
            }
            XCTAssertTrue(received, "the edge was not told core has the batch")

            // A worker's verdict (written here as a worker records it) goes back to the patient's page.
            try await database.client.query("""
                UPDATE batches SET state = 'delivered', processed_at = now(),
                    report = '{"files": [], "studies": [], "totals": {"files": 1, "rebuilt": 1, "quarantined": 0}}'
                WHERE edge_batch::text = \(batch)
                """)
            let answered = try await eventually(30) {
                try await browser.request(.GET, "/api/batches/\(batch)").json["state"] as? String == "delivered"
            }
            XCTAssertTrue(answered, "the verdict did not reach the edge")
            let result = try await browser.request(.GET, "/api/batches/\(batch)").json["result"] as? [String: Any]
            XCTAssertNotNil(result?["receiptCode"] as? String, "\(result ?? [:])")

            // The edge's security events are in core's audit chain.
            let audited = try await eventually(30) {
                (Int(try await LinkedEdge.single(database, "SELECT count(*)::text FROM audit WHERE event_type LIKE 'edge.%'") ?? "0") ?? 0) >= 4
            }
            XCTAssertTrue(audited, "the edge's events were not taken into the audit chain")
        }
    }
}
