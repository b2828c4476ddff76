import Credentials
import HTTPTypes
import Hummingbird

/// A request that changes something must come from the site's own page: Origin (when sent) is ours, Sec-Fetch-Site
/// (when sent) is same-origin, and `X-CSRF-Token` is the session's synchronizer token, compared in constant time.
public enum CSRF {
    public static let header = HTTPField.Name("X-CSRF-Token")!
    public static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!

    /// Passes GET, HEAD and OPTIONS; refuses any other request that fails the rules. `sessionToken` is the CSRF
    /// token of the session the cookie names, nil when there is none: starting a session is the one unsafe request
    /// without one, and the page fetched `/api/session` first, so a missing session means the cookie expired (or was
    /// never set: a cross-site form cannot set it).
    public static func check(_ request: Request, origins: Set<String>, sessionToken: String?) throws(APIError) {
        guard ![.get, .head, .options].contains(request.method) else { return }
        if let origin = request.headers[.origin], !origins.contains(origin) { throw APIError.csrf }
        if let site = request.headers[secFetchSite], site != "same-origin" { throw APIError.csrf }
        guard let sessionToken else { throw APIError.signedOut }
        guard let presented = request.headers[header],
              constantTimeEqual(Array(presented.utf8), Array(sessionToken.utf8)) else { throw APIError.csrf }
    }
}
