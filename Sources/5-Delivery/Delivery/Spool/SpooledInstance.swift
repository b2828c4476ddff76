import Foundation
import GRDB

/// One instance waiting for, or done with, delivery to one destination. The SOP Instance UID is
/// the idempotency key: per destination there is one row, and a PACS that already holds the
/// instance counts as stored.
public struct SpooledInstance: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "spooled"

    public enum State: String, Codable, Sendable, CaseIterable {
        /// Durable in the spool, not yet acknowledged by the destination.
        case pending
        /// Handed to a sender; back to `pending` if the agent stops before the answer.
        case sending
        /// The destination acknowledged it (success, warning or already present).
        case stored
        /// The destination refused it for good (or nothing it accepts fits); `spool retry` re-queues.
        case failed
    }

    /// The destination URL as given (`dicom://AE@HOST:PORT`, `dicomweb+https://…`); never credentials.
    public var destination: String
    public var sopInstanceUID: String
    public var sopClassUID: String
    public var transferSyntaxUID: String
    public var studyInstanceUID: String
    public var sessionID: String
    /// The rebuilt file, relative to the spool directory; removed once stored.
    public var path: String
    public var size: Int64
    public var sha256: String
    public var state: State
    public var attempts: Int
    /// Finding code of a permanent failure (`delivery.refused`, `pacs.unsupported-sop-class`, …).
    public var failureCode: String?
    public var lastError: String?
    public var nextAttemptAt: Double
    public var createdAt: Double
    public var updatedAt: Double
    /// The process sending it while `sending`.
    public var claimedBy: Int32?
    /// The Patient ID as delivered (after reconciliation), for the audit trail.
    public var patientID: String?

    public init(destination: String, sopInstanceUID: String, sopClassUID: String, transferSyntaxUID: String,
                studyInstanceUID: String, sessionID: String) {
        self.destination = destination; self.sopInstanceUID = sopInstanceUID; self.sopClassUID = sopClassUID
        self.transferSyntaxUID = transferSyntaxUID; self.studyInstanceUID = studyInstanceUID; self.sessionID = sessionID
        path = ""; size = 0; sha256 = ""; state = .pending; attempts = 0
        nextAttemptAt = 0; createdAt = 0; updatedAt = 0
    }

    /// The row of a staged file once it is in place.
    init(_ staged: StagedInstance, destination: String) {
        let instance = staged.instance
        self.init(destination: destination, sopInstanceUID: instance.sopInstanceUID, sopClassUID: instance.sopClassUID,
                  transferSyntaxUID: instance.transferSyntaxUID, studyInstanceUID: instance.studyInstanceUID, sessionID: instance.sessionID)
        patientID = instance.patientID
        path = staged.path
        size = staged.bytes.size
        sha256 = staged.bytes.sha256
    }
}
