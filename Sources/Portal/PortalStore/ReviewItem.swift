import Foundation

/// A patient as the review shows them: a registered one (with the registry's id) or the one named at a kiosk desk.
public struct ReviewPatient: Sendable, Codable, Equatable {
    /// patients.id; nil for a desk's patient not found in the registry.
    public var id: Int64?
    public var patientID: String?
    public var issuer: String?
    public var name: String?
    public var birthDate: String?
    public var sex: String?
}

/// One held batch in the queue.
public struct ReviewItem: Sendable, Codable, Equatable {
    public enum Source: String, Sendable, Codable, CaseIterable {
        /// A patient's own upload through the edge.
        case portal
        /// A kiosk's session.
        case kiosk
    }

    /// The batch's id, lower-case.
    public var batch: String
    public var source: Source
    /// The kiosk's name and session, and who was at the desk (from its signed manifest).
    public var kiosk: String?
    public var kioskSession: String?
    public var kioskOperator: String?
    /// The registered patient the batch is compared with: the uploader, the one assigned by a reviewer, or the
    /// registry's record of the patient named at the desk.
    public var registered: ReviewPatient?
    /// The patient named at the kiosk desk, as the kiosk's report gave them.
    public var desk: ReviewPatient?
    public var reasons: [ReviewReason]
    public var studies: Int
    public var instances: Int
    /// `pending` (or nil before anyone looked).
    public var reviewState: String?
    public var createdAt: Date
    /// When the worker held it.
    public var heldAt: Date?
}

/// A study of a held batch beside the expected patient: its DICOM header values as the worker's report has them
/// (never pixel data).
public struct ReviewStudy: Sendable, Codable, Equatable {
    /// The patient as the media's headers had it (before any coercion).
    public struct Header: Sendable, Codable, Equatable {
        public var name: String
        public var patientID: String
        public var issuer: String?
        public var birthDate: String
        public var sex: String?
    }

    public var studyInstanceUID: String
    public var header: Header
    public var studyDate: String?
    public var description: String
    public var modalities: [String]
    public var institutions: [String]
    public var instances: Int
    public var series: Int
    /// `match`, `mismatch` or `unverified`.
    public var identity: String
    public var identityScore: Int?
    public var identityReasons: [String]
    /// `patientID`, `birthDate`, `name` → how each compared.
    public var fields: [String: FieldComparison]
    /// Why this study is held, when it is.
    public var reason: ReviewReason?
}

/// A finding code of the batch, how often it occurs and its worst severity.
public struct ReviewFinding: Sendable, Codable, Equatable {
    public var code: String
    public var severity: String
    public var count: Int
}

/// One held batch opened for review.
public struct ReviewDetail: Sendable, Codable, Equatable {
    public var item: ReviewItem
    public var studies: [ReviewStudy]
    public var findings: [ReviewFinding]
    /// What the worker could not do with the uploads (never patient data).
    public var problems: [String]
    public var totals: [String: Int]
    /// The override a kiosk desk gave, if any.
    public var identityOverride: String?
}

/// A reviewer's decision on a held batch.
public enum ReviewDecision: Sendable, Equatable {
    /// Deliver the held studies under the registered patient's identifiers.
    case approve
    /// Deliver nothing; purge after the retention period.
    case reject(retentionDays: Int)
    /// Protect again against another registered patient (patients.id).
    case reassign(patient: Int64)
}

public enum ReviewError: Error, Equatable, CustomStringConvertible {
    case notFound(UUID)
    /// Someone decided first, or the batch is not held (any more).
    case notPending(UUID, state: String, reviewState: String?)
    case reasonRequired
    case reasonTooLong(Int)
    case unknownPatient(Int64)
    case noRegisteredPatient(UUID)

    public var description: String {
        switch self {
        case .notFound(let id): "batch \(id.uuidString.lowercased()) does not exist"
        case .notPending(let id, let state, let review):
            "batch \(id.uuidString.lowercased()) is no longer waiting for review (state \(state), review \(review ?? "none")): someone decided first"
        case .reasonRequired: "a decision needs a reason, for the audit trail"
        case .reasonTooLong(let limit): "the reason is longer than \(limit) characters"
        case .unknownPatient(let id): "no patient with id \(id) is registered"
        case .noRegisteredPatient(let id):
            "batch \(id.uuidString.lowercased()) has no registered patient to deliver it under: reassign it to one instead"
        }
    }
}

/// Audit event types of the review.
extension AuditEvent {
    public static let reviewViewed = "review.viewed"
    public static let reviewApproved = "review.approved"
    public static let reviewRejected = "review.rejected"
    public static let reviewReassigned = "review.reassigned"
    public static let reviewPurged = "review.purged"
}
