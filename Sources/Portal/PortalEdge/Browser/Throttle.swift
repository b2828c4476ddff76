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

/// At most `limit` password hashes at once: scrypt takes 32 MiB each, and a flood of sign-in attempts must not turn
/// into a flood of memory. The hashing runs on a thread of its own, off the event loops.
actor HashingGate {
    private let limit: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        if running >= limit {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            running += 1
        }
        defer {
            if waiting.isEmpty { running -= 1 } else { waiting.removeFirst().resume() }
        }
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }
}
