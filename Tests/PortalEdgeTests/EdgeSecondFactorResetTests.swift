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

/// Staff's account actions carried by core's `EdgeLink` to the real edge: a second-factor reset removes the patient's
/// authenticator (and passkeys and recovery codes) and ends their sessions, so the factor they enrolled no longer
/// signs them in and they enrol again from a new invitation; a revoked invitation stops working at the edge.
final class EdgeSecondFactorResetTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    func testAResetPatientsFactorNoLongerSignsInUntilTheyEnrolAgain() async throws {
        let database = try await migratedDatabase(for: self)
        try await LinkedEdge.run(database, label: "edge-reset-test") { edge in
            let patient = try await PatientRegistry(database).add(
                RegisteredPatient(patientID: "H2001", issuer: "", name: "DOE^JANE", birthDate: "19800215", email: "jane@example.org"), actor: "test")
            let invitations = InvitationStore(database)
            func pushed(_ invitation: IssuedInvitation) async throws -> Bool {
                try await eventually(30) {
                    try await LinkedEdge.single(database, "SELECT (pushed_at IS NOT NULL)::text FROM invitations WHERE id = \(invitation.invitation.id)") == "true"
                }
            }
            let first = try await invitations.issue(patient: patient, lifetime: 72 * 3600, actor: "test")
            let firstPushed = try await pushed(first)
            XCTAssertTrue(firstPushed, "the invitation never reached the edge")
            let enrolled = BrowserSession(edge)
            let (totp, codes) = try await EdgeAccountTests.enrol(enrolled, token: first.token)

            // Before the reset, the enrolled factor signs in.
            edge.clock.advance(31)
            var reply = try await Self.signIn(edge, code: totp.code(at: edge.clock.now))
            XCTAssertEqual(reply.json["state"] as? String, "signed-in", reply.text)

            try await invitations.request(.secondFactorReset, patient: patient, actor: "staff:rita")
            let carried = try await eventually(30) {
                try await LinkedEdge.single(database, "SELECT count(*)::text FROM audit WHERE event_type = 'link.reset-pushed' AND detail->>'patient' = '\(patient)'") == "1"
            }
            XCTAssertTrue(carried, "the link did not carry the reset to the edge")
            await assertEqual(try await LinkedEdge.single(database, "SELECT edge_reset_requested_at::text FROM patients WHERE id = \(patient)"), nil)

            // Their sessions ended; the password no longer leads to a second factor, the authenticator and the recovery codes are gone.
            reply = try await enrolled.request(.GET, "/api/session")
            XCTAssertEqual(reply.json["state"] as? String, "anonymous", reply.text)
            edge.clock.advance(31)
            let attempt = BrowserSession(edge)
            try await attempt.begin()
            reply = try await attempt.request(.POST, "/api/signin/password", json: ["email": "jane@example.org", "password": EdgeAccountTests.password])
            XCTAssertEqual(reply.error, "signin.failed", reply.text)
            reply = try await attempt.request(.POST, "/api/signin/totp", json: ["code": totp.code(at: edge.clock.now)])
            XCTAssertNotEqual(reply.json["state"] as? String, "signed-in", reply.text)
            reply = try await attempt.request(.POST, "/api/signin/recovery", json: ["code": codes[1]])
            XCTAssertNotEqual(reply.json["state"] as? String, "signed-in", reply.text)
            let reported = try await eventually(30) {
                try await LinkedEdge.single(database, "SELECT count(*)::text FROM audit WHERE event_type = 'edge.account.second-factor-reset' AND detail->>'patient' = '\(patient)'") == "1"
            }
            XCTAssertTrue(reported, "the edge's record of the reset did not reach core's audit chain")

            // A new invitation: they enrol again, and only the new factor works.
            let second = try await invitations.issue(patient: patient, lifetime: 72 * 3600, actor: "test")
            let secondPushed = try await pushed(second)
            XCTAssertTrue(secondPushed)
            let (newTOTP, _) = try await EdgeAccountTests.enrol(BrowserSession(edge), token: second.token)
            edge.clock.advance(31)
            if totp.code(at: edge.clock.now) != newTOTP.code(at: edge.clock.now) {
                reply = try await Self.signIn(edge, code: totp.code(at: edge.clock.now))
                XCTAssertEqual(reply.error, "second-factor.failed", reply.text)
            }
            edge.clock.advance(31)
            reply = try await Self.signIn(edge, code: newTOTP.code(at: edge.clock.now))
            XCTAssertEqual(reply.json["state"] as? String, "signed-in", reply.text)

            // A revoked invitation stops working at the edge once the link has told it.
            let third = try await invitations.issue(patient: patient, lifetime: 72 * 3600, actor: "test")
            let thirdPushed = try await pushed(third)
            XCTAssertTrue(thirdPushed)
            let revoked = try await invitations.revokeLive(patient: patient, reason: "revoked by staff", actor: "staff:rita")
            XCTAssertEqual(revoked, third.invitation.id)
            let refused = try await eventually(30) {
                let browser = BrowserSession(edge)
                try await browser.begin()
                return try await browser.request(.POST, "/api/enrol/start", json: ["token": third.token]).error == "invitation.invalid"
            }
            XCTAssertTrue(refused, "the revoked invitation still works at the edge")
        }
    }

    /// Password, then the authenticator code, in a new browser session.
    static func signIn(_ edge: EdgeTestServer, code: String) async throws -> BrowserSession.Reply {
        let browser = BrowserSession(edge)
        try await browser.begin()
        let reply = try await browser.request(.POST, "/api/signin/password", json: ["email": "jane@example.org", "password": EdgeAccountTests.password])
        guard reply.json["state"] as? String == "second-factor" else { return reply }
        return try await browser.request(.POST, "/api/signin/totp", json: ["code": code])
    }
}
