import Synchronization

/// Which uploads have a PATCH or DELETE in progress in this process. A second request for a busy upload is
/// refused (409) rather than queued: the tus client re-reads the offset with HEAD and carries on from there.
final class UploadLocks: Sendable {
    private let held = Mutex<Set<UploadID>>([])

    func tryLock(_ id: UploadID) -> Bool {
        held.withLock { $0.insert(id).inserted }
    }

    func unlock(_ id: UploadID) {
        _ = held.withLock { $0.remove(id) }
    }
}
