import Credentials
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PortalStore
import WebAuthn
import WebSecurity

/// Sign-in (username and password, then a passkey or the authenticator app), sign-out and enrolment (a link's
/// token, a password, a passkey, optionally an authenticator app). Every answer that changes who the session is
/// rotates its id and hands the page the new CSRF token.
struct ConsoleAccountsAPI: Sendable {
    let directory: StaffDirectory
    let sessions: ConsoleSessions
    let throttle: ConsoleThrottle
    let hashing: HashingGate
    let key: SealingKey
    let relyingParty: RelyingParty
    let scryptCost: Int
    let issuer: String
    let logger: Logger
    let now: @Sendable () -> Date

    static let challengeValidity: TimeInterval = 300
    /// The sealed secret of an authenticator app being set up waits in the session's challenge slot this long.
    static let pendingTOTPValidity: TimeInterval = 600
    static let pendingTOTP = "totp-enrol"

    func addRoutes(to router: Router<ConsoleRequestContext>) {
        router.get("/api/session") { _, context in try await sessionState(context) }
        router.post("/api/signout") { _, context in try await signOut(context) }
        router.post("/api/signin") { request, context in try await signIn(request, context) }
        router.post("/api/signin/passkey/options") { _, context in try await signInPasskeyOptions(context) }
        router.post("/api/signin/passkey") { request, context in try await signInPasskey(request, context) }
        router.post("/api/signin/totp") { request, context in try await signInTOTP(request, context) }
        router.post("/api/enrol/start") { request, context in try await enrolStart(request, context) }
        router.post("/api/enrol/password") { request, context in try await enrolPassword(request, context) }
        router.post("/api/enrol/passkey/options") { _, context in try await enrolPasskeyOptions(context) }
        router.post("/api/enrol/passkey") { request, context in try await enrolPasskey(request, context) }
        router.post("/api/enrol/totp/options") { _, context in try await enrolTOTPOptions(context) }
        router.post("/api/enrol/totp") { request, context in try await enrolTOTP(request, context) }
        router.post("/api/enrol/finish") { _, context in try await enrolFinish(context) }
    }

    // MARK: Session

    private func sessionState(_ context: ConsoleRequestContext) async throws -> Response {
        if let session = context.session { return JSONBody.response(try await describe(session)) }
        let (fresh, token) = sessions.start(now: now())
        try await sessions.save(fresh, address: context.address)
        return JSONBody.response(try await describe(fresh), headers: [.setCookie: SessionCookie.set(token)])
    }

    /// `GET /api/session`: state, CSRF token, the member (with the permissions their role grants) once signed in,
    /// the second factors they can use after the password, and how far an enrolment is.
    func describe(_ session: StaffSession) async throws -> [String: Any] {
        var object: [String: Any] = ["state": session.state.rawValue, "csrf": session.csrf, "idleTimeout": Int(sessions.timeouts.idle),
                                     "staff": NSNull(), "methods": NSNull(), "enrolment": NSNull(), "absoluteExpiresAt": NSNull()]
        guard let id = session.staffID, let member = try await directory.member(id: id) else { return object }
        switch session.state {
        case .signedIn:
            object["staff"] = [
                "username": member.username, "displayName": member.displayName, "role": member.role.rawValue,
                "permissions": member.role.permissions.map(\.rawValue).sorted(),
            ]
            object["absoluteExpiresAt"] = ISO8601DateFormatter().string(from: (session.authenticatedAt ?? session.createdAt).addingTimeInterval(sessions.timeouts.absolute))
        case .password:
            object["methods"] = methods(member)
        case .enrolling:
            object["enrolment"] = [
                "username": member.username, "displayName": member.displayName, "password": member.hasPassword,
                "passkeys": member.passkeyCount, "totp": member.hasTOTP,
            ]
        case .anonymous:
            break
        }
        return object
    }

    private func methods(_ member: StaffMember) -> [String] {
        ["passkey"] + (member.hasTOTP ? ["totp"] : [])
    }

    private func signOut(_ context: ConsoleRequestContext) async throws -> Response {
        guard let session = context.session else { throw APIError.signedOut }
        try await sessions.store.delete(session.digest)
        if session.state == .signedIn, let staff = session.staff {
            try await directory.record(AuditEvent.staffSignedOut, username: staff.username, actor: staff.actor)
        }
        return Response(status: .noContent, headers: [.setCookie: SessionCookie.clear])
    }

    // MARK: Sign-in

    private func signIn(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        guard let session = context.session else { throw APIError.signedOut }
        let body = try await JSONBody.object(request)
        let username = try body.string("username", max: 64).trimmingCharacters(in: .whitespaces).lowercased()
        let password = try body.string("password", max: 4096)
        let wait = try await throttle.wait(username: username, address: context.address, now: now())
        if wait > 0 {
            throw APIError(.tooManyRequests, "signin.throttled", "Too many attempts. Please wait \(wait) seconds and try again.", retryAfter: wait)
        }
        let found: (member: StaffMember, hash: String?)? =
            if StaffMember.isValidUsername(username) { try await directory.passwordHash(username: username) } else { nil }
        let normalized = PasswordPolicy.normalized(password)
        let cost = scryptCost
        // An unknown username costs the same hash as a known one, so the time taken does not say who exists.
        let stored = found?.hash
        let matches = try await hashing.run { PasswordHash.verify(normalized, against: stored, decoyCost: cost) }
        guard let member = found?.member, matches, member.isEnrolled, member.disabledAt == nil else {
            try await throttle.failed(username: username, address: context.address, now: now())
            var detail: [String: JSONValue] = ["reason": .string(found == nil ? "unknown" : matches ? "not enrolled or disabled" : "password")]
            if let address = context.address { detail["address"] = .string(address) }
            try await directory.record(AuditEvent.staffSigninFailed, username: String(username.prefix(64)),
                                       actor: found.map { "staff:" + $0.member.username } ?? "anonymous", detail: detail)
            throw APIError.signinFailed
        }
        try await throttle.succeeded(username: username)
        if member.lockedAt != nil { throw APIError.accountLocked }
        var next = session
        next.state = .password
        next.staffID = member.id
        next.authenticatedAt = nil
        next.secondFactorAt = nil
        return try await rotated(next, replacing: session, context, extra: ["methods": methods(member)])
    }

    /// The session after a right password, and its member (not locked, not disabled).
    private func secondFactorSession(_ context: ConsoleRequestContext) async throws -> (StaffSession, StaffMember) {
        guard let session = context.session else { throw APIError.signedOut }
        guard session.state == .password, let id = session.staffID else { throw APIError.wrongStep }
        guard let member = try await directory.member(id: id), member.disabledAt == nil, member.isEnrolled else { throw APIError.signedOut }
        if member.lockedAt != nil { throw APIError.accountLocked }
        return (session, member)
    }

    private func signInPasskeyOptions(_ context: ConsoleRequestContext) async throws -> Response {
        let (session, member) = try await secondFactorSession(context)
        let keys = try await directory.passkeys(id: member.id)
        let challenge = RelyingParty.newChallenge()
        try await storeChallenge(session, Data(challenge), purpose: "signin", validity: Self.challengeValidity, context)
        return JSONBody.response(["publicKey": try JSONBody.encoded(relyingParty.requestOptions(challenge: challenge, allowing: keys.map(\.credentialID)))])
    }

    private func signInPasskey(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        let (session, member) = try await secondFactorSession(context)
        let body = try await JSONBody.object(request)
        guard let challenge = try await sessions.store.takeChallenge(session.digest, purpose: "signin", now: now()) else { throw APIError.challengeGone }
        let answer = try PasskeyAnswer.assertion(body)
        guard let key = try await directory.passkeys(id: member.id).first(where: { $0.credentialID == answer.rawID }) else {
            try await secondFactorFailed(member, context, method: "passkey")
        }
        do {
            let result = try relyingParty.verify(answer, publicKey: key.publicKey, signCount: key.signCount, challenge: challenge)
            try await directory.updatePasskey(credentialID: key.credentialID, signCount: result.signCount)
        } catch {
            logger.notice("passkey assertion refused", metadata: ["reason": "\(error)"])
            try await secondFactorFailed(member, context, method: "passkey")
        }
        return try await signedIn(session, member, context, method: "passkey")
    }

    private func signInTOTP(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        let (session, member) = try await secondFactorSession(context)
        let code = try await JSONBody.object(request).string("code", max: 16).filter { !$0.isWhitespace }
        guard let (secret, lastStep) = try await directory.totp(id: member.id, key: key) else {
            throw APIError(.conflict, "second-factor.failed", "Your account has no authenticator app. Use your passkey.")
        }
        guard let step = TOTP(secret: secret).verify(code, at: now()) else {
            try await secondFactorFailed(member, context, method: "totp")
        }
        if let lastStep, step <= lastStep { throw APIError.secondFactorReplayed }
        guard try await directory.useTOTPStep(id: member.id, step: step) else { throw APIError.secondFactorReplayed }
        return try await signedIn(session, member, context, method: "totp")
    }

    private func secondFactorFailed(_ member: StaffMember, _ context: ConsoleRequestContext, method: String) async throws -> Never {
        if try await directory.secondFactorFailed(id: member.id, username: member.username, method: method, address: context.address) {
            throw APIError.accountLocked
        }
        throw method == "passkey" ? APIError.passkeyFailed : APIError.secondFactorFailed
    }

    private func signedIn(_ session: StaffSession, _ member: StaffMember, _ context: ConsoleRequestContext, method: String) async throws -> Response {
        try await directory.secondFactorPassed(id: member.id)
        var next = session
        next.state = .signedIn
        next.authenticatedAt = now()
        next.secondFactorAt = now()
        var detail: [String: JSONValue] = ["method": .string(method)]
        if let address = context.address { detail["address"] = .string(address) }
        try await directory.record(AuditEvent.staffSignedIn, username: member.username, actor: "staff:" + member.username, detail: detail)
        return try await rotated(next, replacing: session, context, extra: [:])
    }

    // MARK: Enrolment

    private func enrolStart(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        guard let session = context.session else { throw APIError.signedOut }
        let token = try await JSONBody.object(request).string("token", max: 64)
        guard let member = try await directory.enrolling(token: token) else { throw APIError.enrolmentInvalid }
        var next = session
        next.state = .enrolling
        next.staffID = member.id
        next.authenticatedAt = nil
        next.secondFactorAt = nil
        return try await rotated(next, replacing: session, context, extra: [:])
    }

    /// The enrolling session and its member while the link is still live.
    private func enrolling(_ context: ConsoleRequestContext) async throws -> (StaffSession, StaffMember) {
        guard let session = context.session else { throw APIError.signedOut }
        guard session.state == .enrolling, let id = session.staffID else {
            throw APIError(.conflict, "enrolment.not-started", "Open the enrolment link an administrator gave you to start.")
        }
        guard let member = try await directory.stillEnrolling(id: id) else { throw APIError.enrolmentInvalid }
        return (session, member)
    }

    private func enrolPassword(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        let (session, member) = try await enrolling(context)
        let body = try await JSONBody.object(request)
        let password = try body.string("password", max: 4096)
        let confirmation = try body.string("confirmation", max: 4096)
        guard password == confirmation else {
            throw APIError(.badRequest, "password.mismatch", "The two passwords are not the same. Type the same password twice.")
        }
        let mailbox: String = member.email?.split(separator: "@").first.map(String.init) ?? ""
        var words: [String] = [member.username, mailbox, "dicom", "portal", "console"]
        words += member.displayName.split(separator: " ").map(String.init)
        if let problem = PasswordPolicy.check(password, context: words.filter { !$0.isEmpty }) {
            throw APIError(.badRequest, problem.code, problem.description)
        }
        let normalized = PasswordPolicy.normalized(password)
        let cost = scryptCost
        let hash = try await hashing.run { try PasswordHash.make(normalized, cost: cost) }
        try await directory.setPassword(id: member.id, hash: hash)
        return try await rotated(session, replacing: session, context, extra: [:])
    }

    private func enrolPasskeyOptions(_ context: ConsoleRequestContext) async throws -> Response {
        let (session, member) = try await enrolling(context)
        guard member.hasPassword else { throw APIError.wrongStep }
        let challenge = RelyingParty.newChallenge()
        try await storeChallenge(session, Data(challenge), purpose: "enrol", validity: Self.challengeValidity, context)
        let existing = try await directory.passkeys(id: member.id).map(\.credentialID)
        let options = relyingParty.creationOptions(challenge: challenge, userID: key.derive("webauthn-staff:\(member.id)"),
                                                   userName: member.username, displayName: member.displayName, excluding: existing)
        return JSONBody.response(["publicKey": try JSONBody.encoded(options)])
    }

    private func enrolPasskey(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        let (session, member) = try await enrolling(context)
        let body = try await JSONBody.object(request)
        guard let challenge = try await sessions.store.takeChallenge(session.digest, purpose: "enrol", now: now()) else { throw APIError.challengeGone }
        let answer = try PasskeyAnswer.registration(body)
        let registration: RegistrationResult
        do {
            registration = try relyingParty.verify(answer, challenge: challenge)
        } catch {
            logger.notice("passkey registration refused", metadata: ["reason": "\(error)"])
            throw APIError(.badRequest, "passkey.failed", "Your device's passkey could not be checked. Try again, or use another authenticator.")
        }
        do {
            try await directory.addPasskey(id: member.id, credentialID: registration.credentialID, publicKey: registration.publicKey,
                                           algorithm: Int(registration.algorithm.rawValue), signCount: registration.signCount,
                                           backupEligible: registration.backupEligible)
        } catch StaffError.passkeyAlreadyRegistered {
            throw APIError(.conflict, "passkey.failed", "This passkey is already registered. Use another authenticator.")
        }
        return try await rotated(session, replacing: session, context, extra: [:])
    }

    private func enrolTOTPOptions(_ context: ConsoleRequestContext) async throws -> Response {
        let (session, member) = try await enrolling(context)
        let totp = TOTP.generate()
        try await storeChallenge(session, try key.seal(totp.secret), purpose: Self.pendingTOTP, validity: Self.pendingTOTPValidity, context)
        return JSONBody.response([
            "secret": Base32.encode(totp.secret),
            "uri": totp.provisioningURI(account: member.username, issuer: issuer),
        ])
    }

    private func enrolTOTP(_ request: Request, _ context: ConsoleRequestContext) async throws -> Response {
        let (session, member) = try await enrolling(context)
        let code = try await JSONBody.object(request).string("code", max: 16).filter { !$0.isWhitespace }
        guard let sealed = try await sessions.store.takeChallenge(session.digest, purpose: Self.pendingTOTP, now: now()) else {
            throw APIError(.conflict, "wrong-step", "Start the authenticator app set-up again.")
        }
        let secret = try key.open(sealed)
        guard let step = TOTP(secret: secret).verify(code, at: now()) else {
            // The same secret stays pending: the member types the next code their app shows.
            try await storeChallenge(session, sealed, purpose: Self.pendingTOTP, validity: Self.pendingTOTPValidity, context)
            throw APIError.enrolmentCodeFailed
        }
        try await directory.setTOTP(id: member.id, secret: secret, usedStep: step, key: key)
        return try await rotated(session, replacing: session, context, extra: [:])
    }

    private func enrolFinish(_ context: ConsoleRequestContext) async throws -> Response {
        let (session, member) = try await enrolling(context)
        do { _ = try await directory.finishEnrolment(id: member.id) } catch StaffError.enrolmentIncomplete {
            throw APIError(.conflict, "enrolment.incomplete", "Set a password and register a passkey first.")
        }
        var next = session
        next.state = .signedIn
        next.authenticatedAt = now()
        next.secondFactorAt = now()
        return try await rotated(next, replacing: session, context, extra: [:])
    }

    // MARK: Helpers

    /// Saves `next` under a new id (the old row goes), and answers with its state, its new CSRF token and the cookie.
    private func rotated(_ next: StaffSession, replacing old: StaffSession, _ context: ConsoleRequestContext,
                         extra: [String: Any]) async throws -> Response {
        let (session, token) = next.rotated(now: now())
        try await sessions.save(session, address: context.address, replacing: old.digest)
        var object = try await describe(session)
        for (key, value) in extra { object[key] = value }
        return JSONBody.response(object, headers: [.setCookie: SessionCookie.set(token)])
    }

    private func storeChallenge(_ session: StaffSession, _ challenge: Data, purpose: String, validity: TimeInterval,
                                _ context: ConsoleRequestContext) async throws {
        try await sessions.save(session.holding(challenge, purpose: purpose, expiresAt: now().addingTimeInterval(validity)), address: context.address)
    }
}
