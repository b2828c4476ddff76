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

    let id: UUID
    let owner: Owner
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
