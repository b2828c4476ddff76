import Crypto
import Foundation
import PortalProtocol
import PortalStore
import Uploads

/// A batch as a worker takes it: whose it is, what the uploader said about it, its key and its uploads.
struct WorkerBatch: Sendable {
    enum Owner: Sendable {
        /// A patient's own upload: compared with the patient registered for it.
        case patient(RegisteredPatient)
        /// A kiosk session: compared with the patient named at the desk, its decision re-checked.
        case kiosk(name: String, session: String, manifest: KioskManifest?)
    }

    /// A reviewer's decision this run carries out.
    enum Review: Sendable, Equatable {
        /// Deliver the held studies under the registered patient's identifiers: the reviewer's override.
        case approved(reviewer: String, reason: String)
        /// Compare with, and coerce to, the patient the reviewer assigned.
        case reassigned

        /// The identity override the pipeline records in the report and the findings.
        var override: String? {
            if case let .approved(reviewer, reason) = self { return "reviewer \(reviewer): \(reason)" }
            return nil
        }
    }

    let id: UUID
    let owner: Owner
    /// Fixed for the batch's life: every run coerces with this modification time, so it rebuilds the same bytes.
    let createdAt: Date
    /// Set when a reviewer's decision enqueued this run.
    var review: Review?
    /// The batch's staging key (SymmetricKey is not Sendable; it is made where it is used).
    let keyBytes: Data
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }
    /// Complete uploads only; an unfinished one never reaches a worker.
    let uploads: [UploadRecord]
}

extension UploadRecord {
    func metadata(_ key: String) -> String? {
        metadata.first { $0.key == key }?.value.flatMap { String(data: $0, encoding: .utf8) }
    }
}
