import Credentials
import Foundation
import NIOHTTP1
import PortalConsole
import PortalStore
import PortalTestSupport
import PostgresNIO
import TestSupport
import XCTest

/// Staff enrolment and sign-in, the session rules and the staff area, over HTTPS against the real console on a
/// loopback port and a real PostgreSQL; passkeys made and used by PyPI fido2, codes as an authenticator app makes them.
final class ConsoleAccountTests: XCTestCase {
    static let password = "correct horse battery staple"

    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    /// Follows an enrolment link: password, a passkey (fido2), optionally an authenticator app; ends signed in.
    static func enrol(_ browser: ConsoleBrowser, token: String, totp withTOTP: Bool) async throws -> (Fido2Passkey, TOTP?) {
        let server = browser.server
        try await browser.begin()
        var reply = try await browser.request(.POST, "/api/enrol/start", json: ["token": token])
        XCTAssertEqual(reply.state, "enrolling", reply.text)
        reply = try await browser.request(.POST, "/api/enrol/passkey/options")
        XCTAssertEqual(reply.error, "wrong-step", "the password comes first")
        reply = try await browser.request(.POST, "/api/enrol/password", json: ["password": password, "confirmation": password])
        XCTAssertEqual(reply.status, .ok, reply.text)
        reply = try await browser.request(.POST, "/api/enrol/finish")
        XCTAssertEqual(reply.error, "enrolment.incomplete", "a passkey is required")
        reply = try await browser.request(.POST, "/api/enrol/passkey/options")
        let (passkey, credential) = try Fido2Passkey.register(reply.json, rpID: server.rpID, origin: server.origin)
        reply = try await browser.request(.POST, "/api/enrol/passkey", json: credential)
        XCTAssertEqual((reply.json["enrolment"] as? [String: Any])?["passkeys"] as? Int, 1, reply.text)
        var totp: TOTP?
        if withTOTP {
            reply = try await browser.request(.POST, "/api/enrol/totp/options")
            XCTAssertTrue((reply.json["uri"] as? String ?? "").hasPrefix("otpauth://totp/"), reply.text)
            let made = TOTP(secret: try XCTUnwrap(Base32.decode(try XCTUnwrap(reply.json["secret"] as? String))))
            reply = try await browser.request(.POST, "/api/enrol/totp", json: ["code": "000000"])
            XCTAssertEqual(reply.error, "second-factor.failed")
            reply = try await browser.request(.POST, "/api/enrol/totp", json: ["code": made.code(at: server.clock.now)])
            XCTAssertEqual((reply.json["enrolment"] as? [String: Any])?["totp"] as? Bool, true, reply.text)
            totp = made
        }
        reply = try await browser.request(.POST, "/api/enrol/finish")
        XCTAssertEqual(reply.state, "signed-in", reply.text)
        return (passkey, totp)
    }

    static func signIn(_ server: ConsoleTestServer, _ username: String, passkey: inout Fido2Passkey) async throws -> ConsoleBrowser {
        let browser = ConsoleBrowser(server)
        try await browser.begin()
        var reply = try await browser.request(.POST, "/api/signin", json: ["username": username, "password": password])
        XCTAssertEqual(reply.state, "password", reply.text)
        reply = try await browser.request(.POST, "/api/signin/passkey/options")
        let assertion = try passkey.assert(reply.json, rpID: server.rpID, origin: server.origin)
        reply = try await browser.request(.POST, "/api/signin/passkey", json: assertion)
        XCTAssertEqual(reply.state, "signed-in", reply.text)
        return browser
    }

    func auditEvents(_ database: PortalDatabase) async throws -> [(String, String, String)] {
        var events: [(String, String, String)] = []
        for try await row in try await database.client.query("SELECT event_type, actor, coalesce(detail->>'staff', '') FROM audit ORDER BY seq",
                                                             logger: database.logger).decode((String, String, String).self) {
            events.append(row)
        }
        return events
    }

    func testSecurityHeadersCookieFlagsAndCrossSiteRefusals() async throws {
        let database = try await migratedDatabase(for: self)
        let server = try await ConsoleTestServer(database: database)
        do {
            let token = try await StaffDirectory(database).add(username: "root", displayName: "Root", email: nil, role: .administrator,
                                                               actor: "cli").token
            let browser = ConsoleBrowser(server)
            let session = try await browser.begin()
            XCTAssertEqual(session.state, "anonymous")
            let setCookie = browser.lastSetCookie ?? ""
            XCTAssertTrue(setCookie.hasPrefix("__Host-session="), setCookie)
            for flag in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] { XCTAssertTrue(setCookie.contains(flag), setCookie) }
            XCTAssertFalse(setCookie.contains("Domain"), setCookie)
            for path in ["/", "/api/session", "/enrol.html", "/assets/console.js", "/assets/webauthn.js", "/assets/qr.js", "/nothing.html",
                         "/assets/../../etc/passwd", "/healthz"] {
                let reply = try await browser.request(.GET, path)
                let csp = reply.headers["Content-Security-Policy"].first ?? ""
                XCTAssertTrue(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "\(path): \(csp)")
                XCTAssertFalse(csp.contains("unsafe-inline"), csp)
                XCTAssertEqual(reply.headers["X-Content-Type-Options"].first, "nosniff", path)
                XCTAssertEqual(reply.headers["Referrer-Policy"].first, "no-referrer", path)
                XCTAssertEqual(reply.headers["X-Frame-Options"].first, "DENY", path)
                XCTAssertTrue((reply.headers["Strict-Transport-Security"].first ?? "").hasPrefix("max-age="), path)
                if path.hasPrefix("/api/") { XCTAssertEqual(reply.headers["Cache-Control"].first, "no-store") }
            }
            let shared = try await browser.request(.GET, "/assets/webauthn.js")
            XCTAssertEqual(shared.status, .ok, "the edge's WebAuthn module is served by the console too")
            XCTAssertEqual(shared.body, try Data(contentsOf: TestSupport.packageRoot.appendingPathComponent("Sources/Portal/PortalEdge/Web/assets/webauthn.js")))
            await assertEqual(try await browser.request(.GET, "/upload.html").status, .notFound, "the patients' pages are not the console's")
            await assertEqual(try await browser.request(.GET, "/assets/../../etc/passwd").status, .notFound)

            var reply = try await browser.request(.POST, "/api/enrol/start", json: ["token": token], origin: "https://evil.example")
            XCTAssertEqual(reply.status, .forbidden)
            XCTAssertEqual(reply.error, "csrf")
            reply = try await browser.request(.POST, "/api/enrol/start", json: ["token": token], fetchSite: "cross-site")
            XCTAssertEqual(reply.error, "csrf")
            reply = try await browser.request(.POST, "/api/enrol/start", json: ["token": token], csrf: false)
            XCTAssertEqual(reply.error, "csrf")
            let stranger = ConsoleBrowser(server)
            reply = try await stranger.request(.POST, "/api/enrol/start", json: ["token": token], origin: nil, fetchSite: nil)
            XCTAssertEqual(reply.error, "signed-out")
            reply = try await browser.request(.POST, "/api/enrol/start", json: ["token": "AAAAAAAAAAAAAAAAAAAAAA"])
            XCTAssertEqual(reply.error, "enrolment.invalid")
            let before = browser.cookie
            reply = try await browser.request(.POST, "/api/enrol/start", json: ["token": token])
            XCTAssertEqual(reply.state, "enrolling", reply.text)
            XCTAssertNotEqual(browser.cookie, before, "the session id changes at each step")
        } catch { try await server.stop(); throw error }
        try await server.stop()
    }

    func testEnrolWithPasskeyAndAppThenSignInWithEachAndRefuseAReplayedCode() async throws {
        let database = try await migratedDatabase(for: self)
        let server = try await ConsoleTestServer(database: database)
        do {
            let token = try await StaffDirectory(database).add(username: "alice", displayName: "Alice Admin", email: "alice@example.org",
                                                               role: .administrator, actor: "cli").token
            let browser = ConsoleBrowser(server)
            try await browser.begin()
            try await browser.request(.POST, "/api/enrol/start", json: ["token": token])
            for (password, code) in [("short", "password.too-short"), ("password123", "password.common"), ("alice admin 2024", "password.context-word")] {
                let reply = try await browser.request(.POST, "/api/enrol/password", json: ["password": password, "confirmation": password])
                XCTAssertEqual(reply.error, code, password)
            }
            let (enrolled, totp) = try await Self.enrol(ConsoleBrowser(server), token: token, totp: true)
            var passkey = enrolled
            let app = try XCTUnwrap(totp)
            // The link is used up.
            let again = ConsoleBrowser(server)
            try await again.begin()
            await assertEqual(try await again.request(.POST, "/api/enrol/start", json: ["token": token]).error, "enrolment.invalid")

            var signedIn = try await Self.signIn(server, "alice", passkey: &passkey)
            var reply = try await signedIn.request(.GET, "/api/session")
            let staff = try XCTUnwrap(reply.json["staff"] as? [String: Any])
            XCTAssertEqual(staff["username"] as? String, "alice")
            XCTAssertEqual(staff["role"] as? String, "administrator")
            XCTAssertTrue((staff["permissions"] as? [String] ?? []).contains("manageStaff"))
            let oldCookie = signedIn.cookie
            reply = try await signedIn.request(.POST, "/api/signout")
            XCTAssertEqual(reply.status, .noContent)
            signedIn.cookie = oldCookie
            await assertEqual(try await signedIn.request(.GET, "/api/staff").error, "signed-out", "a signed-out cookie is worthless")

            // The authenticator app, then the same code again.
            server.clock.advance(31)
            signedIn = ConsoleBrowser(server)
            try await signedIn.begin()
            reply = try await signedIn.request(.POST, "/api/signin", json: ["username": "Alice", "password": Self.password])
            XCTAssertEqual(reply.json["methods"] as? [String], ["passkey", "totp"])
            let code = app.code(at: server.clock.now)
            reply = try await signedIn.request(.POST, "/api/signin/totp", json: ["code": code])
            XCTAssertEqual(reply.state, "signed-in", reply.text)
            let replay = ConsoleBrowser(server)
            try await replay.begin()
            try await replay.request(.POST, "/api/signin", json: ["username": "alice", "password": Self.password])
            await assertEqual(try await replay.request(.POST, "/api/signin/totp", json: ["code": code]).error, "second-factor.replayed")

            let events = try await auditEvents(database).map(\.0)
            for expected in ["staff.added", "staff.enrolled", "staff.signed-in", "staff.signed-out"] {
                XCTAssertTrue(events.contains(expected), "\(expected) not in \(events)")
            }
            let rows = try await auditEvents(database)
            XCTAssertTrue(rows.contains { $0 == ("staff.enrolled", "staff:alice", "alice") })
            let details = try await database.client.query("SELECT detail::text FROM audit", logger: database.logger)
                .decode(String.self).reduce(into: "") { $0 += $1 }
            XCTAssertFalse(details.contains(Self.password))
        } catch { try await server.stop(); throw error }
        try await server.stop()
    }

    func testWrongPasswordsAreThrottledAndWrongCodesLockUntilUnlocked() async throws {
        let database = try await migratedDatabase(for: self)
        let server = try await ConsoleTestServer(database: database)
        do {
            let token = try await StaffDirectory(database).add(username: "bob", displayName: "Bob", email: nil, role: .reviewer, actor: "cli").token
            var (passkey, _) = try await Self.enrol(ConsoleBrowser(server), token: token, totp: true)
            let attacker = ConsoleBrowser(server)
            try await attacker.begin()
            try await attacker.assertSignInThrottled("/api/signin", wrong: ["username": "bob", "password": "wrong password"],
                                                     right: ["username": "bob", "password": Self.password])
            server.clock.advance(60)

            let member = ConsoleBrowser(server)
            try await member.begin()
            var reply = try await member.request(.POST, "/api/signin", json: ["username": "bob", "password": Self.password])
            XCTAssertEqual(reply.state, "password", reply.text)
            try await member.assertWrongCodesLock()
            reply = try await member.request(.POST, "/api/signin/passkey/options")
            XCTAssertEqual(reply.error, "account.locked", "the passkey does not open a locked account either")
            let fresh = ConsoleBrowser(server)
            try await fresh.begin()
            await assertEqual(try await fresh.request(.POST, "/api/signin", json: ["username": "bob", "password": Self.password]).error,
                              "account.locked")

            try await StaffDirectory(database).unlock(username: "bob", actor: "cli")
            _ = try await Self.signIn(server, "bob", passkey: &passkey)
            let events = try await auditEvents(database)
            XCTAssertEqual(events.filter { $0.0 == "staff.second-factor-failed" }.count, 5)
            XCTAssertTrue(events.contains { $0 == ("staff.locked", "staff:bob", "bob") })
            XCTAssertTrue(events.contains { $0 == ("staff.unlocked", "cli", "bob") })
            XCTAssertTrue(events.contains { $0.0 == "staff.signin-failed" && $0.2 == "bob" })
        } catch { try await server.stop(); throw error }
        try await server.stop()
    }

    func testIdleAndAbsoluteTimeoutsEndTheSession() async throws {
        let database = try await migratedDatabase(for: self)
        let server = try await ConsoleTestServer(database: database)
        do {
            let token = try await StaffDirectory(database).add(username: "carol", displayName: "Carol", email: nil, role: .administrator,
                                                               actor: "cli").token
            let browser = ConsoleBrowser(server)
            var (passkey, _) = try await Self.enrol(browser, token: token, totp: false)
            server.clock.advance(14 * 60)
            await assertEqual(try await browser.request(.GET, "/api/staff").status, .ok, "14 minutes idle is within the limit")
            server.clock.advance(16 * 60)
            await assertEqual(try await browser.request(.GET, "/api/staff").error, "signed-out", "16 minutes idle ends the session")

            let active = try await Self.signIn(server, "carol", passkey: &passkey)
            var reply = try await active.request(.GET, "/api/staff")
            for _ in 0..<(12 * 6) {
                server.clock.advance(10 * 60)
                reply = try await active.request(.GET, "/api/staff")
                if reply.status != .ok { break }
            }
            XCTAssertEqual(reply.error, "signed-out", "12 hours after sign-in the session ends however active")
        } catch { try await server.stop(); throw error }
        try await server.stop()
    }

    func testAnAdministratorManagesStaffAndAnAuditorMayNot() async throws {
        let database = try await migratedDatabase(for: self)
        let server = try await ConsoleTestServer(database: database)
        do {
            let token = try await StaffDirectory(database).add(username: "dana", displayName: "Dana", email: nil, role: .administrator,
                                                               actor: "cli").token
            let admin = ConsoleBrowser(server)
            _ = try await Self.enrol(admin, token: token, totp: false)

            var reply = try await admin.request(.POST, "/api/staff", json: ["username": "eve", "displayName": "Eve Auditor", "role": "auditor"])
            XCTAssertEqual(reply.status, .created, reply.text)
            let link = try XCTUnwrap(reply.json["link"] as? String)
            XCTAssertTrue(link.hasPrefix(server.origin + "/enrol.html#token="), link)
            let eveToken = String(link.split(separator: "=").last ?? "")
            await assertEqual(try await admin.request(.POST, "/api/staff", json: ["username": "eve", "displayName": "E", "role": "auditor"]).error,
                              "staff.username-taken")
            await assertEqual(try await admin.request(.POST, "/api/staff", json: ["username": "Bad Name", "displayName": "E", "role": "auditor"]).status,
                              .badRequest)
            reply = try await admin.request(.GET, "/api/staff")
            XCTAssertEqual((reply.json["staff"] as? [[String: Any]])?.compactMap { $0["username"] as? String }, ["dana", "eve"])
            XCTAssertFalse(reply.text.contains(eveToken), "the link is shown once, in the answer to adding")

            let auditor = ConsoleBrowser(server)
            var (evePasskey, _) = try await Self.enrol(auditor, token: eveToken, totp: false)
            reply = try await auditor.request(.GET, "/api/staff")
            XCTAssertEqual(reply.status, .forbidden)
            XCTAssertEqual(reply.error, "forbidden")
            await assertEqual(try await auditor.request(.POST, "/api/staff/dana/disable").status, .forbidden)

            reply = try await admin.request(.POST, "/api/staff/eve/role", json: ["role": "reviewer"])
            XCTAssertEqual((reply.json["member"] as? [String: Any])?["role"] as? String, "reviewer", reply.text)
            await assertEqual(try await admin.request(.POST, "/api/staff/eve/disable").status, .ok)
            await assertEqual(try await auditor.request(.GET, "/api/session").state, "anonymous", "disabling ends the member's sessions")
            await assertEqual(try await admin.request(.POST, "/api/staff/eve/enable").status, .ok)
            _ = try await Self.signIn(server, "eve", passkey: &evePasskey)
            reply = try await admin.request(.POST, "/api/staff/eve/reset")
            XCTAssertTrue((reply.json["link"] as? String ?? "").contains("#token="), reply.text)
            XCTAssertEqual((reply.json["member"] as? [String: Any])?["status"] as? String, "enrolling")
            await assertEqual(try await admin.request(.POST, "/api/staff/eve/unlock").status, .ok)
            await assertEqual(try await admin.request(.POST, "/api/staff/nobody/unlock").error, "staff.unknown")
            await assertEqual(try await admin.request(.POST, "/api/staff/dana/disable").error, "staff.last-administrator")
            await assertEqual(try await admin.request(.POST, "/api/staff/dana/role", json: ["role": "auditor"]).error, "staff.last-administrator")

            let events = try await auditEvents(database)
            for (event, actor) in [("staff.added", "staff:dana"), ("staff.role-changed", "staff:dana"), ("staff.disabled", "staff:dana"),
                                   ("staff.enabled", "staff:dana"), ("staff.reset", "staff:dana"), ("staff.unlocked", "staff:dana"),
                                   ("staff.enrolled", "staff:eve"), ("staff.signed-in", "staff:eve")] {
                XCTAssertTrue(events.contains { $0 == (event, actor, "eve") }, "\(event) by \(actor) not in \(events)")
            }
            await assertEqual(try await AuditLog(database).verify(), .intact(records: events.count))
        } catch { try await server.stop(); throw error }
        try await server.stop()
    }
}
