import Foundation
import Synchronization

/// The batches a worker's slots are working on, for its heartbeat.
final class WorkerActivity: Sendable {
    private let batches = Mutex<[UUID]>([])

    func begin(_ batch: UUID) { batches.withLock { $0.append(batch) } }
    func end(_ batch: UUID) { batches.withLock { $0.removeAll { $0 == batch } } }
    /// The batch claimed most recently of those in progress.
    var current: UUID? { batches.withLock { $0.last } }
}
