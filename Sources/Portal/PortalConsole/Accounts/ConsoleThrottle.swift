import Credentials
import Foundation
import PortalStore

/// Growing delays after failed sign-ins, per username and per address, by the edge's rule (`FailureBackoff`): three
/// free mistakes per username, twenty per address (staff share a hospital's NAT), then doubling up to 15 minutes.
struct ConsoleThrottle: Sendable {
    let store: StaffSessionStore
    var freeAccountFailures = 3
    var freeAddressFailures = 20
    var longestDelay: TimeInterval = 900

    static func accountKey(_ username: String) -> String { "account:" + username.lowercased() }
    static func addressKey(_ address: String?) -> String { "address:" + (address ?? "unknown") }

    /// Seconds until the username and address may try again; 0 when they may now.
    func wait(username: String, address: String?, now: Date) async throws -> Int {
        var longest = 0.0
        for (key, free) in [(Self.accountKey(username), freeAccountFailures), (Self.addressKey(address), freeAddressFailures)] {
            guard let (failures, last) = try await store.throttle(key) else { continue }
            let delay = FailureBackoff.delay(failures: failures, free: free, longest: longestDelay)
            longest = max(longest, delay - now.timeIntervalSince(last))
        }
        return Int(longest.rounded(.up))
    }

    func failed(username: String, address: String?, now: Date) async throws {
        let longest = longestDelay
        for (key, free) in [(Self.accountKey(username), freeAccountFailures), (Self.addressKey(address), freeAddressFailures)] {
            try await store.recordFailure(key, now: now) { failures in
                let delay = FailureBackoff.delay(failures: failures, free: free, longest: longest)
                return delay > 0 ? now.addingTimeInterval(delay) : nil
            }
        }
    }

    func succeeded(username: String) async throws {
        try await store.clearFailures(Self.accountKey(username))
    }
}
