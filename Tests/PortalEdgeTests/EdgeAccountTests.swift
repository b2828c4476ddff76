import Credentials
import Foundation
import NIOHTTP1
import XCTest

/// Enrolment, sign-in, step-up and the session rules, over HTTPS against the real edge (in-process) and its link.
final class EdgeAccountTests: XCTestCase {
    static let password = "correct horse battery staple"

    /// Enrols through the API with an authenticator app; returns the TOTP and the recovery codes.
    static func enrol(_ browser: BrowserSession, token: String, birthDate: String = "1980-02-15") async throws -> (TOTP, [String]) {
        try await browser.begin()
        var reply = try await browser.request(.POST, "/api/enrol/start", json: ["token": token])
        XCTAssertEqual(reply.status, .ok, reply.text)
        reply = try await browser.request(.POST, "/api/enrol/birth-date", json: ["birthDate": birthDate])
        XCTAssertEqual(reply.status, .ok, reply.text)
        reply = try await browser.request(.POST, "/api/enrol/password", json: ["password": password, "confirmation": password])
        XCTAssertEqual(reply.status, .ok, reply.text)
        reply = try await browser.request(.POST, "/api/enrol/totp/begin")
        XCTAssertEqual(reply.status, .ok, reply.text)
        let secret = try XCTUnwrap(Base32.decode(try XCTUnwrap(reply.json["secret"] as? String)))
        XCTAssertTrue((reply.json["uri"] as? String ?? "").hasPrefix("otpauth://totp/"))
        let totp = TOTP(secret: secret)
        reply = try await browser.request(.POST, "/api/enrol/totp/finish", json: ["code": totp.code(at: browser.edge.clock.now)])
        XCTAssertEqual(reply.status, .ok, reply.text)
        let codes = try XCTUnwrap(reply.json["recoveryCodes"] as? [String])
        reply = try await browser.request(.POST, "/api/enrol/done")
        XCTAssertEqual(reply.json["state"] as? String, "signed-in", reply.text)
        return (totp, codes)
    }

    func testEveryAnswerCarriesTheSecurityHeadersAndTheCookieIsHostOnly() async throws {
        let edge = try await EdgeTestServer()
        do {
            let browser = BrowserSession(edge)
            let session = try await browser.begin()
            XCTAssertEqual(session.status, .ok)
            XCTAssertEqual(session.json["state"] as? String, "anonymous")
            let setCookie = session.headers["Set-Cookie"].first ?? ""
            XCTAssertTrue(setCookie.hasPrefix("__Host-session="), setCookie)
            for flag in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] { XCTAssertTrue(setCookie.contains(flag), setCookie) }
            XCTAssertFalse(setCookie.contains("Domain"), setCookie)
            for path in ["/", "/api/session", "/no-such-page.html", "/assets/../../etc/passwd"] {
                let reply = try await browser.request(.GET, path)
                let csp = reply.headers["Content-Security-Policy"].first ?? ""
                XCTAssertTrue(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "\(path): \(csp)")
                XCTAssertFalse(csp.contains("unsafe-inline"), csp)
                XCTAssertEqual(reply.headers["X-Content-Type-Options"].first, "nosniff", path)
                XCTAssertEqual(reply.headers["Referrer-Policy"].first, "no-referrer", path)
                XCTAssertEqual(reply.headers["X-Frame-Options"].first, "DENY", path)
                XCTAssertTrue((reply.headers["Strict-Transport-Security"].first ?? "").hasPrefix("max-age="), path)
            }
            let traversal = try await browser.request(.GET, "/assets/../../etc/passwd")
            XCTAssertEqual(traversal.status, .notFound)
        } catch { try await edge.stop(); throw error }
        try await edge.stop()
    }

    func testACrossSiteRequestIsRefused() async throws {
        let edge = try await EdgeTestServer()
        do {
            let token = try await edge.invite(ref: "1")
            let browser = BrowserSession(edge)
            try await browser.begin()
            var reply = try await browser.request(.POST, "/api/enrol/start", json: ["token": token], origin: "https://evil.example")
            XCTAssertEqual(reply.status, .forbidden)
            XCTAssertEqual(reply.error, "csrf")
            reply = try await browser.request(.POST, "/api/enrol/start", json: ["token": token], fetchSite: "cross-site")
            XCTAssertEqual(reply.error, "csrf")
            reply = try await browser.request(.POST, "/api/enrol/start", json: ["token": token], csrf: false)
            XCTAssertEqual(reply.error, "csrf")
            // A request carrying no cookie (a form on another site cannot send a SameSite=Strict one).
            let stranger = BrowserSession(edge)
            reply = try await stranger.request(.POST, "/api/enrol/start", json: ["token": token], origin: nil, fetchSite: nil)
            XCTAssertEqual(reply.error, "signed-out")
            // The real page's request passes, and the session id changes.
            let before = browser.cookie
            reply = try await browser.request(.POST, "/api/enrol/start", json: ["token": token])
            XCTAssertEqual(reply.status, .ok, reply.text)
            XCTAssertNotEqual(browser.cookie, before)
        } catch { try await edge.stop(); throw error }
        try await edge.stop()
    }

    func testEnrolmentWithAnAuthenticatorAppThenSignInAndReplay() async throws {
        let edge = try await EdgeTestServer()
        do {
            let token = try await edge.invite(ref: "7")
            let browser = BrowserSession(edge)
            let (totp, codes) = try await Self.enrol(browser, token: token)
            XCTAssertEqual(codes.count, 10)
            XCTAssertEqual(Set(codes).count, 10)

            // The invitation is used up.
            let again = BrowserSession(edge)
            try await again.begin()
            var reply = try await again.request(.POST, "/api/enrol/start", json: ["token": token])
            XCTAssertEqual(reply.error, "invitation.invalid")

            // Sign out ends the session on the server.
            let oldCookie = browser.cookie
            reply = try await browser.request(.POST, "/api/signout")
            XCTAssertEqual(reply.status, .noContent)
            browser.cookie = oldCookie
            reply = try await browser.request(.GET, "/api/session")
            XCTAssertEqual(reply.json["state"] as? String, "anonymous", "a signed-out cookie is worthless")

            // Sign in: password, then the code; the same code again is refused as replayed.
            edge.clock.advance(31)
            let signIn = BrowserSession(edge)
            try await signIn.begin()
            reply = try await signIn.request(.POST, "/api/signin/password", json: ["email": "JANE@example.org", "password": Self.password])
            XCTAssertEqual(reply.json["state"] as? String, "second-factor", reply.text)
            XCTAssertEqual(reply.json["methods"] as? [String], ["totp", "recovery"])
            let code = totp.code(at: edge.clock.now)
            reply = try await signIn.request(.POST, "/api/signin/totp", json: ["code": code])
            XCTAssertEqual(reply.json["state"] as? String, "signed-in", reply.text)

            let replay = BrowserSession(edge)
            try await replay.begin()
            try await replay.request(.POST, "/api/signin/password", json: ["email": "jane@example.org", "password": Self.password])
            reply = try await replay.request(.POST, "/api/signin/totp", json: ["code": code])
            XCTAssertEqual(reply.error, "second-factor.replayed")

            let events = try await edge.linkRequest(.GET, "/link/v1/events?after=0").json["events"] as? [[String: Any]] ?? []
            let types = events.compactMap { $0["type"] as? String }
            for expected in ["patient.invited", "enrolment.started", "enrolment.second-factor", "enrolment.completed", "signin.completed", "second-factor.replayed"] {
                XCTAssertTrue(types.contains(expected), "\(expected) not in \(types)")
            }
            XCTAssertFalse(String(decoding: try JSONSerialization.data(withJSONObject: events), as: UTF8.self).contains(Self.password))
        } catch { try await edge.stop(); throw error }
        try await edge.stop()
    }

    func testWrongBirthDatesVoidTheInvitationAndWeakPasswordsAreRefused() async throws {
        let edge = try await EdgeTestServer()
        do {
            let token = try await edge.invite(ref: "8", name: "SMITH^ANNA", email: "anna@example.org")
            let browser = BrowserSession(edge)
            try await browser.begin()
            try await browser.request(.POST, "/api/enrol/start", json: ["token": token])
            var reply = try await browser.request(.POST, "/api/enrol/birth-date", json: ["birthDate": "1980-02-16"])
            XCTAssertEqual(reply.error, "birth-date.mismatch")
            reply = try await browser.request(.POST, "/api/enrol/birth-date", json: ["birthDate": "1980-02-15"])
            XCTAssertEqual(reply.status, .ok)
            for (password, code) in [("short", "password.too-short"), ("password123", "password.common"), ("anna smith 2024", "password.context-word")] {
                reply = try await browser.request(.POST, "/api/enrol/password", json: ["password": password, "confirmation": password])
                XCTAssertEqual(reply.error, code, password)
            }
            reply = try await browser.request(.POST, "/api/enrol/password", json: ["password": Self.password, "confirmation": Self.password + "x"])
            XCTAssertEqual(reply.error, "password.mismatch")

            let other = try await edge.invite(ref: "9", email: "b@example.org")
            let guesser = BrowserSession(edge)
            try await guesser.begin()
            try await guesser.request(.POST, "/api/enrol/start", json: ["token": other])
            for _ in 0..<4 {
                reply = try await guesser.request(.POST, "/api/enrol/birth-date", json: ["birthDate": "2000-01-01"])
                XCTAssertEqual(reply.error, "birth-date.mismatch")
            }
            reply = try await guesser.request(.POST, "/api/enrol/birth-date", json: ["birthDate": "2000-01-01"])
            XCTAssertEqual(reply.error, "birth-date.locked")
            reply = try await guesser.request(.POST, "/api/enrol/birth-date", json: ["birthDate": "1980-02-15"])
            XCTAssertEqual(reply.error, "invitation.invalid", "the right date after the lock does not help")

            // An expired invitation.
            let late = try await edge.invite(ref: "10", email: "c@example.org", expiresIn: 60)
            edge.clock.advance(120)
            let slow = BrowserSession(edge)
            try await slow.begin()
            reply = try await slow.request(.POST, "/api/enrol/start", json: ["token": late])
            XCTAssertEqual(reply.error, "invitation.invalid")
        } catch { try await edge.stop(); throw error }
        try await edge.stop()
    }

    func testBruteForceIsSlowedThenSecondFactorFailuresLockUntilARecoveryCodeOrStaff() async throws {
        let edge = try await EdgeTestServer()
        do {
            let token = try await edge.invite(ref: "11", email: "lock@example.org")
            let (_, codes) = try await Self.enrol(BrowserSession(edge), token: token)

            let attacker = BrowserSession(edge)
            try await attacker.begin()
            try await attacker.assertSignInThrottled("/api/signin/password", wrong: ["email": "lock@example.org", "password": "wrong password"],
                                                     right: ["email": "lock@example.org", "password": Self.password])
            edge.clock.advance(60)

            let patient = BrowserSession(edge)
            try await patient.begin()
            var reply = try await patient.request(.POST, "/api/signin/password", json: ["email": "lock@example.org", "password": Self.password])
            XCTAssertEqual(reply.state, "second-factor", reply.text)
            try await patient.assertWrongCodesLock()
            reply = try await patient.request(.GET, "/api/session")
            XCTAssertEqual(reply.json["methods"] as? [String], ["recovery"])
            reply = try await patient.request(.POST, "/api/signin/recovery", json: ["code": codes[0].uppercased()])
            XCTAssertEqual(reply.json["state"] as? String, "signed-in", reply.text)
            XCTAssertEqual(reply.json["recoveryCodesLeft"] as? Int, 9)

            // The same recovery code is good once.
            let later = BrowserSession(edge)
            try await later.begin()
            try await later.request(.POST, "/api/signin/password", json: ["email": "lock@example.org", "password": Self.password])
            reply = try await later.request(.POST, "/api/signin/recovery", json: ["code": codes[0]])
            XCTAssertEqual(reply.error, "second-factor.failed")

            // Locked again, then staff unlock over the link.
            for _ in 0..<5 { try await later.request(.POST, "/api/signin/totp", json: ["code": "000000"]) }
            reply = try await later.request(.POST, "/api/signin/totp", json: ["code": "000000"])
            XCTAssertEqual(reply.error, "account.locked")
            let unlocked = try await edge.linkRequest(.POST, "/link/v1/patients/11/unlock")
            XCTAssertEqual(unlocked.status, .noContent)
            reply = try await later.request(.GET, "/api/session")
            XCTAssertEqual(reply.json["methods"] as? [String], ["totp", "recovery"])
        } catch { try await edge.stop(); throw error }
        try await edge.stop()
    }

    func testIdleAndAbsoluteTimeoutsEndTheSession() async throws {
        let edge = try await EdgeTestServer()
        do {
            let token = try await edge.invite(ref: "12", email: "idle@example.org")
            let browser = BrowserSession(edge)
            let (totp, _) = try await Self.enrol(browser, token: token)
            edge.clock.advance(14 * 60)
            var reply = try await browser.request(.GET, "/api/batches")
            XCTAssertEqual(reply.status, .ok, "14 minutes idle is within the limit")
            edge.clock.advance(16 * 60)
            reply = try await browser.request(.GET, "/api/batches")
            XCTAssertEqual(reply.error, "signed-out", "16 minutes idle ends the session")

            // Active all along, the session still ends 12 hours after sign-in.
            let active = BrowserSession(edge)
            try await active.begin()
            try await active.request(.POST, "/api/signin/password", json: ["email": "idle@example.org", "password": Self.password])
            edge.clock.advance(31)
            reply = try await active.request(.POST, "/api/signin/totp", json: ["code": totp.code(at: edge.clock.now)])
            XCTAssertEqual(reply.json["state"] as? String, "signed-in", reply.text)
            for _ in 0..<(12 * 6) {
                edge.clock.advance(10 * 60)
                reply = try await active.request(.GET, "/api/batches")
                if reply.status != .ok { break }
            }
            XCTAssertEqual(reply.error, "signed-out")
            XCTAssertGreaterThanOrEqual(reply.status.code, 400)
        } catch { try await edge.stop(); throw error }
        try await edge.stop()
    }
}
