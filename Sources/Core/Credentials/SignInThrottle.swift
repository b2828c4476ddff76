import Foundation

/// The sign-in throttle of both browser sites, whatever stores its counters: failures count per account and per
/// address, an address getting more free mistakes than an account (people behind a hospital's NAT share one), and
/// the wait grows by `FailureBackoff` up to a quarter of an hour. A success clears the account's count, not the
/// address's.
public struct SignInThrottle: Sendable {
    public var freeAccountFailures = 3
    public var freeAddressFailures = 20
    public var longestDelay: TimeInterval = 900

    public init() {}

    /// The counter a success clears.
    public static func accountKey(_ account: String) -> String { "account:" + account.lowercased() }
    static func addressKey(_ address: String?) -> String { "address:" + (address ?? "unknown") }

    /// The counters an attempt for `account` from `address` is held to, and how many failures each has for free.
    public func counters(account: String, address: String?) -> [(key: String, free: Int)] {
        [(Self.accountKey(account), freeAccountFailures), (Self.addressKey(address), freeAddressFailures)]
    }

    /// Seconds after a counter's last failure before the next attempt.
    public func delay(failures: Int, free: Int) -> TimeInterval {
        FailureBackoff.delay(failures: failures, free: free, longest: longestDelay)
    }

    /// Seconds until `account` from `address` may try again (0 when they may now), from each counter's stored
    /// failures and last failure.
    public func wait(account: String, address: String?, now: Date,
                     stored: (_ key: String) async throws -> (failures: Int, last: Date)?) async rethrows -> Int {
        var longest = 0.0
        for (key, free) in counters(account: account, address: address) {
            guard let (failures, last) = try await stored(key) else { continue }
            longest = max(longest, delay(failures: failures, free: free) - now.timeIntervalSince(last))
        }
        return Int(longest.rounded(.up))
    }
}
