import WebSecurity
import Credentials
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import WebAuthn

/// Invitation, enrolment, sign-in, step-up and sign-out: the JSON API the pages call (see the edge's API notes in
/// the README). Every answer that changes who the session is rotates its id and hands the page the new CSRF token.
struct AccountsAPI: Sendable {
    let store: EdgeStore
    let sessions: SessionGate
    let throttle: Throttle
    let hashing: HashingGate
    let relyingParty: RelyingParty
    let settings: EdgeServer.Settings
    let logger: Logger
    let now: @Sendable () -> Date

    /// Wrong birth dates before an invitation is void.
    static let birthDateAttempts = 5
    /// Consecutive wrong second factors before the account locks.
    static let secondFactorAttempts = 5
    /// How long a fresh second factor counts for Submit.
    static let stepUpValidity: TimeInterval = 300
    static let challengeValidity: TimeInterval = 300

    func addRoutes(to router: Router<EdgeRequestContext>) {
        router.get("/api/session") { request, context in try await sessionState(request, context) }
        router.post("/api/signout") { _, context in try await signOut(context) }
        router.post("/api/enrol/start") { request, context in try await enrolStart(request, context) }
        router.post("/api/enrol/birth-date") { request, context in try await enrolBirthDate(request, context) }
        router.post("/api/enrol/password") { request, context in try await enrolPassword(request, context) }
        router.post("/api/enrol/totp/begin") { _, context in try await enrolTOTPBegin(context) }
        router.post("/api/enrol/totp/finish") { request, context in try await enrolTOTPFinish(request, context) }
        router.post("/api/enrol/passkey/begin") { _, context in try await enrolPasskeyBegin(context) }
        router.post("/api/enrol/passkey/finish") { request, context in try await enrolPasskeyFinish(request, context) }
        router.post("/api/enrol/done") { _, context in try await enrolDone(context) }
        router.post("/api/signin/password") { request, context in try await signInPassword(request, context) }
        router.post("/api/signin/totp") { request, context in try await secondFactorTOTP(request, context, stepUp: false) }
        router.post("/api/signin/passkey/begin") { _, context in try await passkeyBegin(context, stepUp: false) }
        router.post("/api/signin/passkey/finish") { request, context in try await passkeyFinish(request, context, stepUp: false) }
        router.post("/api/signin/recovery") { request, context in try await signInRecovery(request, context) }
        router.post("/api/step-up/totp") { request, context in try await secondFactorTOTP(request, context, stepUp: true) }
        router.post("/api/step-up/passkey/begin") { _, context in try await passkeyBegin(context, stepUp: true) }
        router.post("/api/step-up/passkey/finish") { request, context in try await passkeyFinish(request, context, stepUp: true) }
    }

    // MARK: Session

    private func sessionState(_ request: Request, _ context: EdgeRequestContext) async throws -> Response {
        var headers = HTTPFields()
        let session: EdgeSession
        if let existing = context.session {
            session = existing
        } else {
            let (fresh, token) = sessions.start(now: now())
            try await store.save(fresh, address: context.address)
            headers[.setCookie] = SessionCookie.set(token)
            session = fresh
        }
        return JSONBody.response(try await describe(session), headers: headers)
    }

    /// What the page needs to know about its session (the API notes' `GET /api/session`).
    func describe(_ session: EdgeSession) async throws -> [String: Any] {
        var object: [String: Any] = ["state": session.state.rawValue, "csrf": session.csrf, "idleTimeout": Int(sessions.timeouts.idle),
                                     "hospital": settings.hospitalName]
        object["enrolment"] = session.enrolmentStep.map { ["step": $0.rawValue] } ?? NSNull()
        var patient: EdgePatient?
        if let ref = session.patient, session.state == .signedIn || (session.state == .enrolling && session.enrolmentStep != .birthDate) {
            patient = try await store.patient(ref: ref)
        }
        object["patient"] = patient.map { ["displayName": $0.displayName, "name": $0.name, "birthDate": $0.birthDate, "email": $0.email ?? ""] } ?? NSNull()
        if session.state == .secondFactor, let ref = session.patient, let account = try await store.patient(ref: ref) {
            object["methods"] = methods(account)
        } else {
            object["methods"] = NSNull()
        }
        if session.state == .signedIn {
            let until = session.stepUpAt.map { $0.addingTimeInterval(Self.stepUpValidity) }
            object["stepUpValidUntil"] = until.flatMap { $0 > now() ? ISO8601DateFormatter().string(from: $0) : nil } ?? NSNull()
            object["absoluteExpiresAt"] = ISO8601DateFormatter().string(from: (session.authenticatedAt ?? session.createdAt).addingTimeInterval(sessions.timeouts.absolute))
            object["limits"] = ["maxBytes": settings.quota.maxBytes, "maxFiles": settings.quota.maxFiles,
                                "maxOpenUploads": settings.quota.maxOpenUploads, "chunkSize": settings.chunkSize]
            if let patient { object["methods"] = methods(patient) }
        } else {
            object["stepUpValidUntil"] = NSNull()
            object["absoluteExpiresAt"] = NSNull()
            object["limits"] = NSNull()
        }
        return object
    }

    private func methods(_ patient: EdgePatient) -> [String] {
        if patient.lockedAt != nil { return ["recovery"] }
        return (patient.hasTOTP ? ["totp"] : []) + (patient.passkeyCount > 0 ? ["passkey"] : []) + ["recovery"]
    }

    private func signOut(_ context: EdgeRequestContext) async throws -> Response {
        guard let session = context.session else { throw APIError.signedOut }
        try await store.deleteSession(session.digest)
        if let ref = session.patient { try await store.record("signed-out", patient: ref, address: context.address, now: now()) }
        var headers = HTTPFields()
        headers[.setCookie] = SessionCookie.clear
        return Response(status: .noContent, headers: headers)
    }

    // MARK: Enrolment

    private func enrolStart(_ request: Request, _ context: EdgeRequestContext) async throws -> Response {
        guard let session = context.session else { throw APIError.signedOut }
        let body = try await JSONBody.object(request)
        let token = try body.string("token", max: 64)
        guard let digest = OneTimeToken(parsing: token)?.digest, let invitation = try await store.invitation(digest: digest),
              invitation.isUsable(at: now()) else {
            try await store.record("enrolment.invitation-refused", patient: nil, address: context.address, now: now())
            throw APIError.invitationInvalid
        }
        var next = session
        next.state = .enrolling
        next.patient = invitation.patient
        next.invitation = invitation.digest
        next.enrolmentStep = .birthDate
        next.authenticatedAt = nil
        next.stepUpAt = nil
        try await store.record("enrolment.started", patient: invitation.patient, address: context.address, now: now())
        return try await rotated(next, replacing: session, context, extra: [:])
    }

    /// The session in `step` of an enrolment whose invitation is still usable.
    private func enrolling(_ context: EdgeRequestContext, step: EdgeSession.EnrolmentStep) async throws -> (EdgeSession, String, EdgeInvitation) {
        guard let session = context.session else { throw APIError.signedOut }
        guard session.state == .enrolling, let ref = session.patient, let digest = session.invitation else {
            throw APIError(.conflict, "enrolment.not-started", "Open the link in your invitation e-mail to start.")
        }
        guard session.enrolmentStep == step else {
            throw APIError(.conflict, "enrolment.wrong-step", "This step is already done or not yet due. Reload the page to continue where you are.")
        }
        // The invitation is used up when the second factor is stored; the recovery-codes step comes after.
        guard let invitation = try await store.invitation(digest: Array(digest)),
              step == .recoveryCodes || invitation.isUsable(at: now()) else { throw APIError.invitationInvalid }
        return (session, ref, invitation)
    }

    private func enrolBirthDate(_ request: Request, _ context: EdgeRequestContext) async throws -> Response {
        let (session, ref, invitation) = try await enrolling(context, step: .birthDate)
        let body = try await JSONBody.object(request)
        let given = try body.string("birthDate", max: 16).replacingOccurrences(of: "-", with: "")
        guard let patient = try await store.patient(ref: ref) else { throw APIError.invitationInvalid }
        guard constantTimeEqual(Array(given.utf8), Array(patient.birthDate.utf8)) else {
            let failures = try await store.recordBirthDateFailure(digest: invitation.digest, limit: Self.birthDateAttempts, now: now())
            try await store.record("enrolment.birth-date-wrong", patient: ref, address: context.address, detail: ["failures": "\(failures)"], now: now())
            if failures >= Self.birthDateAttempts {
                throw APIError(.forbidden, "birth-date.locked",
                               "The birth date was wrong too many times, so this invitation no longer works. Please call the hospital for a new one.")
            }
            throw APIError(.unauthorized, "birth-date.mismatch",
                           "That birth date does not match our records. Check the day, month and year (\(Self.birthDateAttempts - failures) tries left).")
        }
        var next = session
        next.enrolmentStep = .password
        return try await rotated(next, replacing: session, context, extra: [:])
    }

    private func enrolPassword(_ request: Request, _ context: EdgeRequestContext) async throws -> Response {
        let (session, ref, _) = try await enrolling(context, step: .password)
        let body = try await JSONBody.object(request)
        let password = try body.string("password", max: 4096)
        let confirmation = try body.string("confirmation", max: 4096)
        guard let patient = try await store.patient(ref: ref) else { throw APIError.invitationInvalid }
        guard password == confirmation else {
            throw APIError(.badRequest, "password.mismatch", "The two passwords are not the same. Type the same password twice.")
        }
        let contextWords = patient.name.split(whereSeparator: { $0 == "^" || $0 == " " }).map(String.init)
            + [patient.email?.split(separator: "@").first.map(String.init) ?? "", settings.hospitalName, "dicom", "portal"]
        if let problem = PasswordPolicy.check(password, context: contextWords.filter { !$0.isEmpty }) {
            throw APIError(.badRequest, problem.code, problem.description)
        }
        let normalized = PasswordPolicy.normalized(password)
        let cost = settings.scryptCost
        let hash = try await hashing.run { try PasswordHash.make(normalized, cost: cost) }
        try await store.setPassword(ref: ref, hash: hash)
        var next = session
        next.enrolmentStep = .secondFactor
        return try await rotated(next, replacing: session, context, extra: [:])
    }

    private func enrolTOTPBegin(_ context: EdgeRequestContext) async throws -> Response {
        let (session, ref, _) = try await enrolling(context, step: .secondFactor)
        guard let patient = try await store.patient(ref: ref) else { throw APIError.invitationInvalid }
        let totp = TOTP.generate()
        var next = session
        next.pendingTOTP = try store.seal(totp.secret)
        try await store.save(next, address: context.address)
        return JSONBody.response([
            "secret": Base32.encode(totp.secret),
            "uri": totp.provisioningURI(account: patient.email ?? patient.displayName, issuer: settings.hospitalName),
        ])
    }

    private func enrolTOTPFinish(_ request: Request, _ context: EdgeRequestContext) async throws -> Response {
        let (session, ref, invitation) = try await enrolling(context, step: .secondFactor)
        let code = try await JSONBody.object(request).string("code", max: 16).filter { !$0.isWhitespace }
        guard let sealed = session.pendingTOTP else {
            throw APIError(.conflict, "enrolment.wrong-step", "Start the authenticator app set-up again.")
        }
        let secret = try store.open(sealed)
        guard let step = TOTP(secret: secret).verify(code, at: now()) else {
            throw APIError.enrolmentCodeFailed
        }
        return try await finishEnrolment(session, ref: ref, invitation: invitation, totpSecret: secret, usedStep: step, passkey: nil, context)
    }

    private func enrolPasskeyBegin(_ context: EdgeRequestContext) async throws -> Response {
        let (session, ref, _) = try await enrolling(context, step: .secondFactor)
        guard let patient = try await store.patient(ref: ref) else { throw APIError.invitationInvalid }
        let challenge = RelyingParty.newChallenge()
        try await storeChallenge(session, challenge, purpose: "enrol", context)
        let options = relyingParty.creationOptions(
            challenge: challenge, userID: userHandle(ref), userName: patient.email ?? patient.displayName,
            displayName: patient.displayName, excluding: [])
        return JSONBody.response(["publicKey": try JSONBody.encoded(options)])
    }

    private func enrolPasskeyFinish(_ request: Request, _ context: EdgeRequestContext) async throws -> Response {
        let (session, ref, invitation) = try await enrolling(context, step: .secondFactor)
        let body = try await JSONBody.object(request)
        guard let challenge = try await store.takeChallenge(session.digest, purpose: "enrol", now: now()) else {
            throw APIError.challengeGone
        }
        let answer = try PasskeyAnswer.registration(body)
        let registration: RegistrationResult
        do {
            registration = try relyingParty.verify(answer, challenge: challenge)
        } catch {
            logger.notice("passkey registration refused", metadata: ["reason": "\(error)"])
            try await store.record("enrolment.passkey-refused", patient: ref, address: context.address, detail: ["reason": "\(error)"], now: now())
            throw APIError(.badRequest, "passkey.failed", "Your device's passkey could not be checked. Try again, or use an authenticator app instead.")
        }
        let passkey = StoredPasskey(credentialID: registration.credentialID, publicKey: registration.publicKey, signCount: registration.signCount)
        return try await finishEnrolment(session, ref: ref, invitation: invitation, totpSecret: nil, usedStep: nil, passkey: passkey, context)
    }

    private func finishEnrolment(_ session: EdgeSession, ref: String, invitation: EdgeInvitation, totpSecret: [UInt8]?, usedStep: UInt64?,
                                 passkey: StoredPasskey?, _ context: EdgeRequestContext) async throws -> Response {
        let codes = RecoveryCodes.generate(count: 10)
        let completed: Bool
        do {
            completed = try await store.completeEnrolment(ref: ref, invitation: invitation.digest, totpSecret: totpSecret, passkey: passkey,
                                                          recoveryDigests: codes.compactMap(RecoveryCodes.digest), now: now())
        } catch EnrolmentRefusal.passkeyAlreadyRegistered {
            throw APIError(.conflict, "passkey.failed", "This passkey is already registered. Use another device, or an authenticator app instead.")
        }
        guard completed else { throw APIError.invitationInvalid }
        if let usedStep { _ = try await store.useTOTPStep(ref: ref, step: usedStep) }
        // A re-enrolment replaces the factors: sessions signed in with the old ones end.
        try await store.deleteSessions(patient: ref)
        try await store.record("enrolment.second-factor", patient: ref, address: context.address,
                               detail: ["method": passkey == nil ? "totp" : "passkey"], now: now())
        var next = session
        next.enrolmentStep = .recoveryCodes
        next.pendingTOTP = nil
        return try await rotated(next, replacing: session, context, extra: ["recoveryCodes": codes])
    }

    private func enrolDone(_ context: EdgeRequestContext) async throws -> Response {
        let (session, ref, _) = try await enrolling(context, step: .recoveryCodes)
        var next = session
        next.state = .signedIn
        next.enrolmentStep = nil
        next.invitation = nil
        next.authenticatedAt = now()
        next.stepUpAt = now()
        try await store.record("enrolment.completed", patient: ref, address: context.address, now: now())
        return try await rotated(next, replacing: session, context, extra: [:])
    }

    // MARK: Sign-in

    private func signInPassword(_ request: Request, _ context: EdgeRequestContext) async throws -> Response {
        guard let session = context.session else { throw APIError.signedOut }
        let body = try await JSONBody.object(request)
        let email = try body.string("email", max: 254).trimmingCharacters(in: .whitespaces)
        let password = try body.string("password", max: 4096)
        let wait = try await throttle.wait(account: email, address: context.address, now: now())
        if wait > 0 {
            try await store.record("signin.throttled", patient: nil, address: context.address, now: now())
            throw APIError(.tooManyRequests, "signin.throttled", "Too many attempts. Please wait \(wait) seconds and try again.", retryAfter: wait)
        }
        let patient = try await store.patient(email: email)
        let normalized = PasswordPolicy.normalized(password)
        let cost = settings.scryptCost
        // An unknown address costs the same hash as a known one, so the time taken does not say which addresses exist.
        let stored = patient?.passwordHash
        let matches = try await hashing.run { PasswordHash.verify(normalized, against: stored, decoyCost: cost) }
        guard let patient, matches, patient.isEnrolled else {
            try await throttle.failed(account: email, address: context.address, now: now())
            try await store.record("signin.password-failed", patient: patient?.ref, address: context.address, now: now())
            throw APIError.signinFailed
        }
        try await throttle.succeeded(account: email)
        var next = session
        next.state = .secondFactor
        next.patient = patient.ref
        next.enrolmentStep = nil
        next.invitation = nil
        try await store.record("signin.password-ok", patient: patient.ref, address: context.address, now: now())
        return try await rotated(next, replacing: session, context, extra: ["methods": methods(patient)])
    }

    /// The session waiting for its second factor (sign-in) or signed in (step-up), and its patient.
    private func secondFactorSession(_ context: EdgeRequestContext, stepUp: Bool) async throws -> (EdgeSession, EdgePatient) {
        guard let session = context.session, let ref = session.patient else { throw APIError.signedOut }
        guard session.state == (stepUp ? .signedIn : .secondFactor) else {
            throw APIError(.conflict, stepUp ? "signed-out" : "signin.wrong-step", "Please sign in again.")
        }
        guard let patient = try await store.patient(ref: ref) else { throw APIError.signedOut }
        if patient.lockedAt != nil { throw APIError.accountLocked }
        return (session, patient)
    }

    private func secondFactorTOTP(_ request: Request, _ context: EdgeRequestContext, stepUp: Bool) async throws -> Response {
        let (session, patient) = try await secondFactorSession(context, stepUp: stepUp)
        let code = try await JSONBody.object(request).string("code", max: 16).filter { !$0.isWhitespace }
        guard let (secret, lastStep) = try await store.totp(ref: patient.ref) else {
            throw APIError(.conflict, "second-factor.failed", "Your account has no authenticator app. Use your passkey or a recovery code.")
        }
        guard let step = TOTP(secret: secret).verify(code, at: now()) else {
            try await secondFactorFailed(patient, context, method: "totp")
        }
        if let lastStep, step <= lastStep {
            try await store.record("second-factor.replayed", patient: patient.ref, address: context.address, now: now())
            throw APIError.secondFactorReplayed
        }
        guard try await store.useTOTPStep(ref: patient.ref, step: step) else {
            throw APIError.secondFactorReplayed
        }
        return try await secondFactorPassed(session, patient, context, stepUp: stepUp, method: "totp")
    }

    private func passkeyBegin(_ context: EdgeRequestContext, stepUp: Bool) async throws -> Response {
        let (session, patient) = try await secondFactorSession(context, stepUp: stepUp)
        let keys = try await store.passkeys(ref: patient.ref)
        guard !keys.isEmpty else {
            throw APIError(.conflict, "passkey.failed", "Your account has no passkey. Use your authenticator app or a recovery code.")
        }
        let challenge = RelyingParty.newChallenge()
        try await storeChallenge(session, challenge, purpose: stepUp ? "step-up" : "signin", context)
        return JSONBody.response(["publicKey": try JSONBody.encoded(relyingParty.requestOptions(challenge: challenge, allowing: keys.map(\.credentialID)))])
    }

    private func passkeyFinish(_ request: Request, _ context: EdgeRequestContext, stepUp: Bool) async throws -> Response {
        let (session, patient) = try await secondFactorSession(context, stepUp: stepUp)
        let body = try await JSONBody.object(request)
        guard let challenge = try await store.takeChallenge(session.digest, purpose: stepUp ? "step-up" : "signin", now: now()) else {
            throw APIError.challengeGone
        }
        let answer = try PasskeyAnswer.assertion(body)
        guard let key = try await store.passkeys(ref: patient.ref).first(where: { $0.credentialID == answer.rawID }) else {
            try await secondFactorFailed(patient, context, method: "passkey")
        }
        do {
            let result = try relyingParty.verify(answer, publicKey: key.publicKey, signCount: key.signCount, challenge: challenge)
            try await store.updatePasskey(credentialID: key.credentialID, signCount: result.signCount, now: now())
        } catch {
            logger.notice("passkey assertion refused", metadata: ["reason": "\(error)"])
            try await secondFactorFailed(patient, context, method: "passkey", reason: "\(error)")
        }
        return try await secondFactorPassed(session, patient, context, stepUp: stepUp, method: "passkey")
    }

    private func signInRecovery(_ request: Request, _ context: EdgeRequestContext) async throws -> Response {
        guard let session = context.session, session.state == .secondFactor, let ref = session.patient,
              let patient = try await store.patient(ref: ref) else { throw APIError.signedOut }
        let code = try await JSONBody.object(request).string("code", max: 64)
        guard let digest = RecoveryCodes.digest(code), let left = try await store.useRecoveryCode(ref: ref, digest: digest, now: now()) else {
            try await secondFactorFailed(patient, context, method: "recovery")
        }
        try await store.record("second-factor.recovery-code-used", patient: ref, address: context.address, detail: ["left": "\(left)"], now: now())
        return try await secondFactorPassed(session, patient, context, stepUp: false, method: "recovery", extra: ["recoveryCodesLeft": left])
    }

    private func secondFactorFailed(_ patient: EdgePatient, _ context: EdgeRequestContext, method: String, reason: String? = nil) async throws -> Never {
        let locked = try await store.recordSecondFactorFailure(ref: patient.ref, limit: Self.secondFactorAttempts, now: now())
        var detail = ["method": method]
        if let reason { detail["reason"] = reason }
        try await store.record("second-factor.failed", patient: patient.ref, address: context.address, detail: detail, now: now())
        if locked {
            try await store.record("account.locked", patient: patient.ref, address: context.address, now: now())
            throw APIError.accountLocked
        }
        throw method == "passkey"
            ? APIError(.unauthorized, "passkey.failed", "The passkey was not accepted. Try again, or use another way to confirm it is you.")
            : method == "recovery" ? APIError(.unauthorized, "second-factor.failed", "That recovery code is not right or was already used.")
            : APIError.secondFactorFailed
    }

    private func secondFactorPassed(_ session: EdgeSession, _ patient: EdgePatient, _ context: EdgeRequestContext, stepUp: Bool,
                                    method: String, extra: [String: Any] = [:]) async throws -> Response {
        try await store.resetSecondFactorFailures(ref: patient.ref)
        var next = session
        next.state = .signedIn
        next.stepUpAt = now()
        if !stepUp { next.authenticatedAt = now() }
        try await store.record(stepUp ? "step-up.passed" : "signin.completed", patient: patient.ref, address: context.address,
                               detail: ["method": method], now: now())
        var extra = extra
        extra["stepUpValidUntil"] = ISO8601DateFormatter().string(from: now().addingTimeInterval(Self.stepUpValidity))
        return try await rotated(next, replacing: session, context, extra: extra)
    }

    // MARK: Helpers

    /// Saves `next` under a new id (the old row goes), and answers with its state, its new CSRF token and the cookie.
    private func rotated(_ next: EdgeSession, replacing old: EdgeSession, _ context: EdgeRequestContext,
                         extra: [String: Any]) async throws -> Response {
        let (session, token) = next.rotated(now: now())
        try await store.save(session, address: context.address, replacing: old.digest)
        var object = try await describe(session)
        for (key, value) in extra { object[key] = value }
        var headers = HTTPFields()
        headers[.setCookie] = SessionCookie.set(token)
        return JSONBody.response(object, headers: headers)
    }

    private func storeChallenge(_ session: EdgeSession, _ challenge: [UInt8], purpose: String, _ context: EdgeRequestContext) async throws {
        try await store.save(session.holding(Data(challenge), purpose: purpose, expiresAt: now().addingTimeInterval(Self.challengeValidity)),
                             address: context.address)
    }

    /// The WebAuthn user handle: opaque (no name, no e-mail), stable per patient, not guessable from the ref.
    private func userHandle(_ ref: String) -> [UInt8] {
        store.sealingKey.derive("webauthn-user:" + ref)
    }
}
