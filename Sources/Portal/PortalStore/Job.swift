import Foundation

/// A job to put on the queue.
public struct NewJob: Sendable {
    public var kind: String
    public var batch: UUID?
    /// A JSON document; the worker for `kind` knows its shape.
    public var payloadJSON: String
    public var maxAttempts: Int
    /// Not claimable before this many seconds from now.
    public var delay: Double

    public init(kind: String, batch: UUID? = nil, payloadJSON: String = "{}", maxAttempts: Int = 5, delay: Double = 0) {
        self.kind = kind
        self.batch = batch
        self.payloadJSON = payloadJSON
        self.maxAttempts = maxAttempts
        self.delay = delay
    }
}

/// A job a worker holds under a lease.
public struct ClaimedJob: Sendable, Equatable {
    public let id: Int64
    public let kind: String
    public let batch: UUID?
    public let payloadJSON: String
    /// This claim's attempt number, from 1.
    public let attempt: Int
    public let maxAttempts: Int
    public let lease: Lease
}

/// Proof of holding a job. The attempt number fences a worker whose lease expired: once another worker
/// has claimed the job the attempt differs and every call with the old lease is refused.
public struct Lease: Sendable, Equatable {
    public let jobID: Int64
    public let worker: String
    public let attempt: Int
}

/// A job that failed `max_attempts` times, or whose lease kept expiring: an administrator's to look at.
public struct DeadJob: Sendable, Equatable {
    public let id: Int64
    public let kind: String
    public let attempts: Int
    public let lastError: String?
    public let diedAt: Date
}

/// What wakes an idle worker.
public enum WakeUp: Sendable, Equatable {
    /// LISTEN is (again) in place: notifications sent while it was not may have been missed, so look now.
    case listening
    /// A job of this kind was enqueued.
    case enqueued(kind: String)
    /// The safety-net poll: a notification can be lost, a delayed job can come due.
    case poll
}

public enum JobQueueError: Error, Equatable, CustomStringConvertible {
    case leaseLost(jobID: Int64)
    case notDead(jobID: Int64)

    public var description: String {
        switch self {
        case .leaseLost(let id): "job \(id): the lease was lost (it expired and the job may run elsewhere)"
        case .notDead(let id): "job \(id) is not in the dead-letter state"
        }
    }
}
