/// What an audit record is about: the `type` of each line of the trail. The pipeline, the station
/// and the delivery observers write these, ATNA's event mapping reads them back: both say a type
/// by one of the names below, so a misspelt one does not compile instead of silently never
/// matching. Open like the trail itself: a record of a type this build does not declare is still
/// read (and forwarded as nothing). Written as its bare string, so the lines stay as they were.
public struct AuditEventType: RawRepresentable, Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    /// For the declarations below only: everywhere else a type is named, not spelt.
    private init(_ rawValue: String) { self.rawValue = rawValue }

    public var description: String { rawValue }
    /// Quoted, as the string was: messages that print an event read as they did.
    public var debugDescription: String { rawValue.debugDescription }

    // MARK: the service

    /// Service start, with the configuration's SHA-256; stop. Both are followed by a checkpoint.
    public static let serviceStart = AuditEventType("service.start")
    public static let serviceStop = AuditEventType("service.stop")

    // MARK: a session (one medium)

    public static let sessionStart = AuditEventType("session.start")
    public static let sessionEnd = AuditEventType("session.end")
    /// A session the service was stopped in the middle of (what was committed stays).
    public static let sessionInterrupted = AuditEventType("session.interrupted")
    public static let identityDecision = AuditEventType("identity.decision")
    public static let identityOverride = AuditEventType("identity.override")
    public static let importStudy = AuditEventType("import.study")
    /// Demographics coerced to the hospital's values by reconciliation.
    public static let patientUpdated = AuditEventType("patient.updated")
    /// A file with findings of medium severity or more (or such a finding about the medium).
    public static let finding = AuditEventType("finding")
    /// A rejected file, kept in quarantine.
    public static let quarantine = AuditEventType("quarantine")

    // MARK: delivery, as the spool drains

    public static let transferBegin = AuditEventType("transfer.begin")
    public static let transfer = AuditEventType("transfer")

    // MARK: operators

    public static let operatorSignIn = AuditEventType("operator.signin")
    public static let operatorSignInFailed = AuditEventType("operator.signin-failed")
    public static let operatorSignOut = AuditEventType("operator.signout")
    public static let operatorLocked = AuditEventType("operator.locked")

    // MARK: the trail itself

    /// The signed checkpoint `AuditLog` appends after a session end or a service stop.
    public static let checkpoint = AuditEventType("audit.checkpoint")

    /// Every type declared above; README's list of audit record types is checked against it.
    public static let known: [AuditEventType] = [
        .serviceStart, .serviceStop,
        .sessionStart, .sessionEnd, .sessionInterrupted, .identityDecision, .identityOverride, .importStudy, .patientUpdated,
        .finding, .quarantine,
        .transferBegin, .transfer,
        .operatorSignIn, .operatorSignInFailed, .operatorSignOut, .operatorLocked,
        .checkpoint,
    ]
}
