import Credentials
import Foundation

/// Growing delays after failed sign-ins, per account and per address (`FailureBackoff`, up to a quarter of an
/// hour). An address gets more room than an account (a hospital's patients may share one behind a NAT). A success clears the account's count, not the address's.
struct Throttle: Sendable {
    let store: EdgeStore
    var freeAccountFailures = 3
    var freeAddressFailures = 20
    var longestDelay: TimeInterval = 900

    static func accountKey(_ email: String) -> String { "account:" + email.lowercased() }
    static func addressKey(_ address: String?) -> String { "address:" + (address ?? "unknown") }

    /// Seconds until `keys` may try again; 0 when they may now.
    func wait(account: String, address: String?, now: Date) async throws -> Int {
        let checks = [(Self.accountKey(account), freeAccountFailures), (Self.addressKey(address), freeAddressFailures)]
        var longest = 0.0
        for (key, free) in checks {
            guard let (failures, last) = try await store.throttle(key), failures > free else { continue }
            let delay = FailureBackoff.delay(failures: failures, free: free, longest: longestDelay)
            longest = max(longest, delay - now.timeIntervalSince(last))
        }
        return Int(longest.rounded(.up))
    }

    func failed(account: String, address: String?, now: Date) async throws {
        try await store.recordFailure([Self.accountKey(account), Self.addressKey(address)], now: now)
    }

    func succeeded(account: String) async throws {
        try await store.clearFailures(Self.accountKey(account))
    }
}
