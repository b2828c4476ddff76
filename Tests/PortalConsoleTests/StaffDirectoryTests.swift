import Credentials
import Foundation
import PortalStore
import PortalTestSupport
import PostgresNIO
import TestSupport
import XCTest

/// The staff directory against a real PostgreSQL: members, enrolment links, factors, lockout, and the audit trail of
/// every change.
final class StaffDirectoryTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    func details(_ database: PortalDatabase, _ event: String) async throws -> [(String, String)] {
        var rows: [(String, String)] = []
        for try await row in try await database.client.query("""
            SELECT actor, detail->>'staff' FROM audit WHERE event_type = \(event) ORDER BY seq
            """, logger: database.logger).decode((String, String).self) { rows.append(row) }
        return rows
    }

    func testMembersLinksEnrolmentAndTheirAudit() async throws {
        let database = try await migratedDatabase(for: self)
        let directory = StaffDirectory(database)
        do { _ = try await directory.add(username: "Upper", displayName: "X", email: nil, role: .auditor, actor: "cli"); XCTFail("accepted") } catch StaffError.invalid {}
        do { _ = try await directory.add(username: "ok", displayName: "X", email: "not-mail", role: .auditor, actor: "cli"); XCTFail("accepted") } catch StaffError.invalid {}
        let added = try await directory.add(username: "ann", displayName: "Ann", email: "ann@example.org", role: .administrator, actor: "cli")
        XCTAssertEqual(added.member.status, "enrolling")
        XCTAssertGreaterThan(added.expiresAt.timeIntervalSinceNow, 71 * 3600)
        do { _ = try await directory.add(username: "ann", displayName: "Again", email: nil, role: .auditor, actor: "cli"); XCTFail("accepted") } catch StaffError.usernameTaken {}
        // Only the token's SHA-256 is stored.
        let stored = try await database.client.query("SELECT enrolment_token_sha256 FROM staff WHERE username = 'ann'", logger: database.logger)
            .decode(Data.self).reduce(into: [Data]()) { $0.append($1) }
        XCTAssertEqual(stored, [Data(try XCTUnwrap(OneTimeToken(parsing: added.token)).digest)])

        await assertEqual(try await directory.enrolling(token: added.token)?.id, added.member.id)
        await assertNil(try await directory.enrolling(token: "AAAAAAAAAAAAAAAAAAAAAA"))
        do { _ = try await directory.finishEnrolment(id: added.member.id); XCTFail("finished without factors") } catch StaffError.enrolmentIncomplete {}
        try await directory.setPassword(id: added.member.id, hash: try PasswordHash.make("a long enough password", cost: 1 << 10))
        try await directory.addPasskey(id: added.member.id, credentialID: [1, 2, 3], publicKey: [4], algorithm: -7, signCount: 0, backupEligible: false)
        do {
            try await directory.addPasskey(id: added.member.id, credentialID: [1, 2, 3], publicKey: [4], algorithm: -7, signCount: 0, backupEligible: false)
            XCTFail("the same credential twice")
        } catch StaffError.passkeyAlreadyRegistered {}
        let enrolled = try await directory.finishEnrolment(id: added.member.id)
        XCTAssertEqual(enrolled.status, "active")
        XCTAssertEqual(enrolled.passkeyCount, 1)
        await assertNil(try await directory.enrolling(token: added.token), "the link is used up")

        _ = try await directory.add(username: "ben", displayName: "Ben", email: nil, role: .reviewer, actor: "staff:ann")
        try await directory.changeRole(username: "ben", to: .auditor, actor: "staff:ann")
        await assertEqual(try await directory.member(username: "ben")?.role, .auditor)
        try await directory.disable(username: "ben", actor: "staff:ann")
        await assertEqual(try await directory.member(username: "ben")?.status, "disabled")
        try await directory.enable(username: "ben", actor: "staff:ann")
        do { try await directory.disable(username: "ann", actor: "staff:ann"); XCTFail("disabled the last administrator") } catch StaffError.lastAdministrator {}
        do { try await directory.changeRole(username: "ann", to: .reviewer, actor: "staff:ann"); XCTFail("demoted the last administrator") } catch StaffError.lastAdministrator {}
        await assertEqual(try await directory.member(username: "ann")?.role, .administrator, "the refused change rolled back")
        do { try await directory.unlock(username: "nobody", actor: "cli"); XCTFail("unlocked nobody") } catch StaffError.unknown("nobody") {}

        let reset = try await directory.reset(username: "ann", actor: "cli")
        XCTAssertNotEqual(reset.token, added.token)
        XCTAssertEqual(reset.member.status, "enrolling")
        XCTAssertFalse(reset.member.hasPassword)
        XCTAssertEqual(reset.member.passkeyCount, 0)
        await assertEqual(try await directory.list().map(\.username), ["ann", "ben"])

        for (event, expected) in [(AuditEvent.staffAdded, [("cli", "ann"), ("staff:ann", "ben")]), (AuditEvent.staffEnrolled, [("staff:ann", "ann")]),
                                  (AuditEvent.staffRoleChanged, [("staff:ann", "ben")]), (AuditEvent.staffDisabled, [("staff:ann", "ben")]),
                                  (AuditEvent.staffEnabled, [("staff:ann", "ben")]), (AuditEvent.staffReset, [("cli", "ann")])] {
            let rows = try await details(database, event)
            XCTAssertEqual(rows.map(\.0), expected.map(\.0), event)
            XCTAssertEqual(rows.map(\.1), expected.map(\.1), event)
        }
    }

    func testSecondFactorsLockoutReplayAndTheSealedSecret() async throws {
        let database = try await migratedDatabase(for: self)
        let directory = StaffDirectory(database)
        let temporary = try TestSupport.TemporaryDirectory("console-key")
        defer { temporary.cleanUp() }
        let keyURL = URL(fileURLWithPath: temporary.path("console/console.key"))
        let key = try SealingKey.loadOrCreate(at: keyURL, name: .console)
        let attributes = try FileManager.default.attributesOfItem(atPath: keyURL.path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let again = try SealingKey.loadOrCreate(at: keyURL, name: .console)
        XCTAssertEqual(try again.open(try key.seal([9, 8, 7])), [9, 8, 7], "made once, then read")
        try Data([1, 2]).write(to: keyURL)
        XCTAssertThrowsError(try SealingKey.loadOrCreate(at: keyURL, name: .console), "a short key is an error, not a new key")

        let member = try await directory.add(username: "cy", displayName: "Cy", email: nil, role: .reviewer, actor: "cli").member
        let secret = TOTP.generate().secret
        try await directory.setTOTP(id: member.id, secret: secret, usedStep: 100, key: key)
        let sealed = try await database.client.query("SELECT totp_secret FROM staff WHERE id = \(member.id)", logger: database.logger)
            .decode(Data.self).reduce(into: [Data]()) { $0.append($1) }
        XCTAssertFalse(sealed.first.map { $0.range(of: Data(secret)) != nil } ?? true, "the secret is stored sealed")
        let opened = try await directory.totp(id: member.id, key: key)
        XCTAssertEqual(opened?.secret, secret)
        XCTAssertEqual(opened?.lastStep, 100)
        await assertFalse(try await directory.useTOTPStep(id: member.id, step: 100), "the step used at enrolment")
        await assertTrue(try await directory.useTOTPStep(id: member.id, step: 101))
        await assertFalse(try await directory.useTOTPStep(id: member.id, step: 101), "a replayed code")

        try await directory.addPasskey(id: member.id, credentialID: [7], publicKey: [1], algorithm: -7, signCount: 3, backupEligible: true)
        try await directory.updatePasskey(credentialID: [7], signCount: 9)
        await assertEqual(try await directory.passkeys(id: member.id), [StaffPasskey(credentialID: [7], publicKey: [1], signCount: 9)])

        for attempt in 1...5 {
            let locked = try await directory.secondFactorFailed(id: member.id, username: "cy", method: "totp", address: "192.0.2.1")
            XCTAssertEqual(locked, attempt == 5)
        }
        await assertEqual(try await directory.member(username: "cy")?.status, "locked")
        try await directory.unlock(username: "cy", actor: "cli")
        let unlocked = try await directory.member(username: "cy")
        XCTAssertNil(unlocked?.lockedAt)
        XCTAssertEqual(unlocked?.secondFactorFailures, 0)
        await assertEqual(try await details(database, AuditEvent.staffSecondFactorFailed).count, 5)
        await assertEqual(try await details(database, AuditEvent.staffLocked).map(\.0), ["staff:cy"])
        await assertEqual(try await details(database, AuditEvent.staffUnlocked).map(\.0), ["cli"])
    }

    func testSessionsRotateAndExpireAndThrottlesCount() async throws {
        let database = try await migratedDatabase(for: self)
        let store = StaffSessionStore(database)
        // Whole seconds: timestamptz keeps microseconds.
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let record = StaffSessionRecord(digest: Data(repeating: 1, count: 32), state: "anonymous", csrf: "c", staffID: nil, challenge: Data([5]),
                                        challengePurpose: "enrol", challengeExpiresAt: now.addingTimeInterval(60), createdAt: now, lastSeenAt: now,
                                        authenticatedAt: nil, secondFactorAt: nil)
        try await store.save(record, address: "192.0.2.1")
        await assertEqual(try await store.session(digest: record.digest), record)
        await assertNil(try await store.takeChallenge(record.digest, purpose: "signin", now: now), "another purpose")
        await assertEqual(try await store.takeChallenge(record.digest, purpose: "enrol", now: now), Data([5]))
        await assertNil(try await store.takeChallenge(record.digest, purpose: "enrol", now: now), "taken once")
        var rotated = record
        rotated.digest = Data(repeating: 2, count: 32)
        try await store.save(rotated, address: nil, replacing: record.digest)
        await assertNil(try await store.session(digest: record.digest), "the old id is gone")
        await assertEqual(try await store.expire(idle: 900, absolute: 43_200, unauthenticated: 3600, now: now.addingTimeInterval(901)), 1)

        await assertNil(try await store.throttle("account:x"))
        try await store.recordFailure("account:x", now: now) { _ in nil }
        try await store.recordFailure("account:x", now: now) { now.addingTimeInterval(Double($0)) }
        await assertEqual(try await store.throttle("account:x")?.failures, 2)
        try await store.clearFailures("account:x")
        await assertNil(try await store.throttle("account:x"))
    }
}
