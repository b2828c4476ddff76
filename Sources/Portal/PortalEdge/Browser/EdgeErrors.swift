import WebSecurity

/// The patient site's own refusals (the shared ones are in `APIError`).
extension APIError {
    static let batchNotFound = APIError(.notFound, "batch.not-found", "This upload does not exist or is not yours.")
    static let invitationInvalid = APIError(.notFound, "invitation.invalid",
                                            "This invitation link is not valid any more (used, replaced or expired). Ask the hospital for a new invitation.")
    static let signinFailed = APIError(.unauthorized, "signin.failed", "The e-mail address or the password is wrong.")
    static let accountLocked = APIError(.forbidden, "account.locked",
                                        "Your account is locked after too many wrong codes. Sign in with one of your recovery codes, or call the hospital to unlock it.")
    static let stepUpRequired = APIError(.forbidden, "step-up.required", "Please confirm it is you with your second factor before sending.")
}
