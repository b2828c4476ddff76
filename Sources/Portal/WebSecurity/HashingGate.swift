import Foundation

/// At most `limit` password hashes at once: scrypt takes 32 MiB each, and a flood of sign-in attempts must not turn
/// into a flood of memory. The hashing runs on a thread of its own, off the event loops.
public actor HashingGate {
    private let limit: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init(limit: Int) { self.limit = limit }

    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
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
