import WebSecurity

/// The console's own refusals at sign-in and enrolment (the shared ones are in `APIError`).
extension APIError {
    static let signinFailed = APIError(.unauthorized, "signin.failed", "The username or the password is wrong.")
    static let passkeyFailed = APIError(.unauthorized, "passkey.failed", "The passkey was not accepted. Try again, or use your authenticator app.")
    static let accountLocked = APIError(.forbidden, "account.locked",
                                        "Your account is locked after too many wrong second factors. Ask an administrator to unlock it.")
    static let enrolmentInvalid = APIError(.notFound, "enrolment.invalid",
                                           "This enrolment link is not valid any more (used, replaced or expired). Ask an administrator for a new one.")
    static let wrongStep = APIError(.conflict, "wrong-step", "This step is not due now. Reload the page to continue where you are.")
}
