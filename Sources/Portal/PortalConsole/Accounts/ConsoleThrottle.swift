import Credentials
import Foundation
import PortalStore

/// The sites' sign-in throttle (`SignInThrottle`) over the console's counters in PostgreSQL, per username and per
/// address; a counter records when it next lets an attempt through.
struct ConsoleThrottle: Sendable {
    let store: StaffSessionStore
    var rule = SignInThrottle()

    /// Seconds until the username and address may try again; 0 when they may now.
    func wait(username: String, address: String?, now: Date) async throws -> Int {
        try await rule.wait(account: username, address: address, now: now) { try await store.throttle($0) }
    }

    func failed(username: String, address: String?, now: Date) async throws {
        let rule = rule
        for (key, free) in rule.counters(account: username, address: address) {
            try await store.recordFailure(key, now: now) { failures in
                let delay = rule.delay(failures: failures, free: free)
                return delay > 0 ? now.addingTimeInterval(delay) : nil
            }
        }
    }

    func succeeded(username: String) async throws {
        try await store.clearFailures(SignInThrottle.accountKey(username))
    }
}
