/// Refusals both sites word alike when a second factor is checked (each site's own are beside its accounts API).
extension APIError {
    public static let secondFactorFailed = APIError(.unauthorized, "second-factor.failed", "That code is not right. Check your authenticator app and try again.")
    /// At enrolment: the first code from a newly set-up app, where a wrong clock is the likely cause.
    public static let enrolmentCodeFailed = APIError(.unauthorized, "second-factor.failed",
                                                     "That code is not right. Check that your phone's clock is right and type the code your app shows now.")
    public static let secondFactorReplayed = APIError(.unauthorized, "second-factor.replayed",
                                                      "That code was already used. Wait for your app to show a new code and type that one.")
    public static let challengeGone = APIError(.conflict, "passkey.failed", "The passkey request timed out or was already used. Try again.")
}
