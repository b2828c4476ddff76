import Foundation
import Hummingbird
import WebSecurity

extension StaffSession: BrowserSession {}

extension BrowserMiddleware where Context == ConsoleRequestContext, Session == StaffSession {
    /// The console's: every answer gets the security headers; `/api/` requests get their session loaded, and those
    /// that change something must come from the console's own page (`CSRF`).
    init(console sessions: ConsoleSessions, origins: Set<String>, now: @escaping @Sendable () -> Date) {
        self.init(origins: origins, guarded: { $0.hasPrefix("/api/") }, load: { try await sessions.load($0, now: $1) },
                  attach: { $0.session = $1 }, now: now)
    }
}
