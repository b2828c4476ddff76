import Credentials
import Foundation

/// The sites' sign-in throttle (`SignInThrottle`) over the edge's counters in SQLite, per account (e-mail) and per
/// address.
struct Throttle: Sendable {
    let store: EdgeStore
    var rule = SignInThrottle()

    /// Seconds until the account and address may try again; 0 when they may now.
    func wait(account: String, address: String?, now: Date) async throws -> Int {
        try await rule.wait(account: account, address: address, now: now) { try await store.throttle($0) }
    }

    func failed(account: String, address: String?, now: Date) async throws {
        try await store.recordFailure(rule.counters(account: account, address: address).map(\.key), now: now)
    }

    func succeeded(account: String) async throws {
        try await store.clearFailures(SignInThrottle.accountKey(account))
    }
}
