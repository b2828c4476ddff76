import Foundation
import Hummingbird
import WebSecurity

extension EdgeSession: BrowserSession {}

extension BrowserMiddleware where Context == EdgeRequestContext, Session == EdgeSession {
    /// The patients' listener's: every response gets the security headers; API and upload requests get their
    /// session loaded, and those that change something must come from the portal's own page: Origin (when sent) is
    /// ours, Sec-Fetch-Site (when sent) is same-origin, and `X-CSRF-Token` is the session's synchronizer token.
    init(edge sessions: SessionGate, origins: Set<String>, now: @escaping @Sendable () -> Date) {
        self.init(origins: origins, guarded: { $0.hasPrefix("/api/") || $0.hasPrefix("/uploads/") || $0 == "/uploads" },
                  noStore: { $0.hasPrefix("/api/") || $0.hasPrefix("/uploads") },
                  load: { try await sessions.load($0, now: $1) }, attach: { $0.session = $1 }, now: now)
    }
}
