/// What a staff member of the admin console may do. Roles are fixed sets of permissions, so a reader of the audit
/// trail knows from the role alone what a person could have done.
public enum StaffRole: String, Sendable, Codable, CaseIterable {
    /// Runs the portal: staff, patients, the review queue, analytics and audit.
    case administrator
    /// Registers and invites patients and decides held batches.
    case reviewer
    /// Reads everything, changes nothing: audit, analytics, patients and the review queue.
    case auditor

    public var permissions: Set<StaffPermission> {
        switch self {
        case .administrator: Set(StaffPermission.allCases)
        case .reviewer: [.viewPatients, .managePatients, .viewReview, .review, .viewAnalytics]
        case .auditor: [.viewPatients, .viewReview, .viewAnalytics, .viewAudit]
        }
    }

    public func may(_ permission: StaffPermission) -> Bool { permissions.contains(permission) }
}

public enum StaffPermission: String, Sendable, Codable, CaseIterable {
    case viewPatients, managePatients
    case viewReview, review
    case viewAnalytics
    case viewAudit
    case manageStaff
}
