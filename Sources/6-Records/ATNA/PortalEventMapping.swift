import Foundation

/// A record of the portal's central audit table, with what core looked up about it for the message: the registered
/// patient it concerns (directly or through its batch) and the studies of that batch as the worker found them.
public struct PortalAuditRecord: Sendable, Equatable {
    public struct Patient: Sendable, Equatable {
        public var id: String
        public var issuer: String
        public var name: String
        public init(id: String, issuer: String, name: String) { self.id = id; self.issuer = issuer; self.name = name }
    }

    public var seq: Int64
    public var time: Date
    public var type: String
    public var actor: String
    /// The record's detail, scalars as text (objects and arrays as their JSON).
    public var detail: [String: String]
    public var patient: Patient?
    public var studies: [String]

    public init(seq: Int64, time: Date, type: String, actor: String, detail: [String: String], patient: Patient? = nil, studies: [String] = []) {
        self.seq = seq; self.time = time; self.type = type; self.actor = actor; self.detail = detail; self.patient = patient; self.studies = studies
    }
}

/// Turns the portal's audit records into PS3.15 A.5.3 messages, as `EventMapping` does for the kiosk's trail: staff
/// and patient sign-ins (User Authentication), reading or changing a patient's record, reviews and invitations
/// (Patient Record, Security Alert), batches delivered or held (DICOM Instances Transferred), the audit log read
/// or exported (Audit Log Used, Export), and integrity or access problems (Security Alert). Records without an ATNA
/// counterpart (bookkeeping such as a manifest stored) give none.
public struct PortalEventMapping: Sendable {
    /// Core as an active participant: its calling AE title and host.
    public var aeTitle: String
    public var host: String
    /// The PACS batches are delivered to, as the destination of a transfer.
    public var destination: String
    public var source: AuditSource
    /// APP-NAME of the syslog messages.
    public static let appName = "dicom-portal"

    public init(aeTitle: String, host: String, destination: String, source: AuditSource) {
        self.aeTitle = aeTitle; self.host = host; self.destination = destination; self.source = source
    }

    public func messages(for record: PortalAuditRecord) -> [AuditMessage] {
        let type = record.type
        let d = record.detail
        let family = type.split(separator: ".", maxSplits: 1).first.map(String.init) ?? type
        switch family {
        case "staff" where Self.isAuthentication(type):
            return [authentication(record, user: person(record.actor, requestor: true))]
        case "staff":
            return [securityAlert(record, type: .dcm("110137", "User Security Attributes Changed"), outcome: .success,
                                  subject: user(d["staff"] ?? record.actor))]
        case "edge":
            return edge(record)
        case "patient", "review":
            let action: AuditMessage.Action = type.hasSuffix(".viewed") ? .read : type == "patient.registered" ? .create : .update
            return [message(.dcm("110110", "Patient Record"), action, record, description: describe(record),
                            participants: [person(record.actor, requestor: true), application(roles: [], requestor: false)],
                            objects: [patientObject(record)])]
        case "invitation":
            return [securityAlert(record, type: .dcm("110137", "User Security Attributes Changed"), outcome: .success,
                                  subject: patientObject(record), requestor: person(record.actor, requestor: true))]
        case "batch":
            // A transfer names its studies: a batch is one once the worker has read it.
            guard !record.studies.isEmpty else { return [] }
            let outcome: AuditMessage.Outcome = type == "batch.delivered" ? .success : type == "batch.failed" ? .seriousFailure : .minorFailure
            let pacs = AuditMessage.ActiveParticipant(userID: destination, isRequestor: false, roles: [.dcm("110152", "Destination Role ID")])
            return [message(.dcm("110104", "DICOM Instances Transferred"), .create, record, outcome: outcome,
                            description: outcome == .success ? nil : "\(type): not delivered to the PACS",
                            participants: [application(roles: [.dcm("110153", "Source Role ID")], requestor: true), pacs],
                            objects: [patientObject(record)] + record.studies.map(study))]
        case "audit" where type == "audit.exported":
            var media = AuditMessage.ActiveParticipant(userID: d["format"] ?? "csv", isRequestor: false, roles: [.dcm("110154", "Destination Media")])
            media.mediaType = .dcm("110037", "URI")
            return [message(.dcm("110106", "Export"), .read, record, description: describe(record),
                            participants: [person(record.actor, requestor: true), application(roles: [], requestor: false), media],
                            objects: [auditLog()])]
        case "audit":
            var objects = [auditLog()]
            if record.patient != nil || d["patient"] != nil { objects.append(patientObject(record)) }
            return [message(.dcm("110101", "Audit Log Used"), .read, record, description: describe(record),
                            participants: [person(record.actor, requestor: true), application(roles: [], requestor: false)], objects: objects)]
        case _ where Self.alerts.contains(type):
            let subject = d["kiosk"].map(system) ?? d["batch"].map(system) ?? system(record.actor)
            return [securityAlert(record, type: Self.alertType(type), outcome: type == "kiosk.added" || type == "kiosk.revoked" ? .success : .seriousFailure,
                                  subject: subject)]
        default:
            return []
        }
    }

    /// Signing in or out, however the family spells it (`staff.signed-in`, `edge.signin.failed`, `staff.sign-out`).
    static func isAuthentication(_ type: String) -> Bool {
        ["signin", "sign-in", "signed-in", "signout", "sign-out", "signed-out"].contains { type.contains($0) }
    }

    /// The records that are security alerts of their family.
    static let alerts: Set<String> = ["kiosk.trail-failed", "kiosk.refused", "kiosk.added", "kiosk.revoked", "upload.refused", "link.digest-mismatch"]

    static func alertType(_ type: String) -> AuditMessage.Code {
        switch type {
        case "kiosk.refused": .dcm("110126", "Node Authentication")
        case "kiosk.added", "kiosk.revoked": .dcm("110129", "Security Configuration")
        default: AuditMessage.Code(type, "99PORTAL", "Integrity check failed: " + type)
        }
    }

    /// The patients' site's security events as the edge reported them: sign-ins (a second factor refused is a
    /// failed one), changes to a patient's access, and refusals. A patient's uploads are not among them: core's own
    /// `batch.*` records are the transfers.
    private func edge(_ record: PortalAuditRecord) -> [AuditMessage] {
        let type = record.type
        guard !type.hasPrefix("edge.batch.") else { return [] }
        if Self.isAuthentication(type) || type.hasPrefix("edge.second-factor.failed") || type == "edge.second-factor.replayed" {
            return [authentication(record, user: person("patient:" + (record.detail["patient"] ?? "unknown"), requestor: true))]
        }
        let subject = record.patient.map { patientObject($0) } ?? patientObject(record)
        if type == "edge.account.locked" {
            return [securityAlert(record, type: .dcm("110137", "User Security Attributes Changed"), outcome: .seriousFailure, subject: subject)]
        }
        if ["refused", "wrong", "fail"].contains(where: { type.contains($0) }) {
            return [securityAlert(record, type: local(type), outcome: .minorFailure, subject: subject)]
        }
        return [securityAlert(record, type: .dcm("110137", "User Security Attributes Changed"), outcome: .success, subject: subject)]
    }

    // MARK: parts

    private func authentication(_ record: PortalAuditRecord, user: AuditMessage.ActiveParticipant) -> AuditMessage {
        let failed = ["fail", "locked", "throttled", "replayed"].contains { record.type.contains($0) }
        let logout = ["signed-out", "sign-out", "signout"].contains { record.type.contains($0) }
        return message(.dcm("110114", "User Authentication"), .execute, record, outcome: failed ? .minorFailure : .success,
                       types: [logout ? .dcm("110123", "Logout") : .dcm("110122", "Login")], description: record.detail["reason"],
                       participants: [user, application(roles: [], requestor: false)])
    }

    private func message(_ id: AuditMessage.Code, _ action: AuditMessage.Action, _ record: PortalAuditRecord, outcome: AuditMessage.Outcome = .success,
                         types: [AuditMessage.Code] = [], description: String? = nil, participants: [AuditMessage.ActiveParticipant],
                         objects: [AuditMessage.ParticipantObject] = []) -> AuditMessage {
        AuditMessage(eventID: id, action: action, time: record.time, outcome: outcome, eventTypes: types, outcomeDescription: description,
                     participants: participants, source: source, objects: objects)
    }

    private func securityAlert(_ record: PortalAuditRecord, type: AuditMessage.Code, outcome: AuditMessage.Outcome,
                               subject: AuditMessage.ParticipantObject, requestor: AuditMessage.ActiveParticipant? = nil) -> AuditMessage {
        message(.dcm("110113", "Security Alert"), .execute, record, outcome: outcome, types: [type], description: describe(record),
                participants: [requestor ?? application(roles: [], requestor: true)] + (requestor == nil ? [] : [application(roles: [], requestor: false)]),
                objects: [subject])
    }

    /// The event and its reason or problem, for EventOutcomeDescription.
    private func describe(_ record: PortalAuditRecord) -> String {
        [record.type, record.detail["reason"], record.detail["problem"]].compactMap { $0 }.joined(separator: ": ")
    }

    private func application(roles: [AuditMessage.Code], requestor: Bool) -> AuditMessage.ActiveParticipant {
        .init(userID: aeTitle, alternativeUserID: Self.appName, isRequestor: requestor, networkAccessPoint: host,
              networkAccessPointType: EventMapping.accessPointType(host), roles: roles)
    }

    private func person(_ actor: String, requestor: Bool) -> AuditMessage.ActiveParticipant {
        .init(userID: actor.isEmpty ? "unknown" : actor, isRequestor: requestor)
    }

    private func user(_ name: String) -> AuditMessage.ParticipantObject {
        .init(id: name, type: "1", role: "11", idType: .init("11", "RFC-3881", "User Identifier"))
    }

    private func system(_ id: String) -> AuditMessage.ParticipantObject {
        .init(id: id.isEmpty ? "unknown" : id, type: "2", role: "13", idType: .init("12", "RFC-3881", "URI"))
    }

    private func auditLog() -> AuditMessage.ParticipantObject {
        .init(id: "dicom-portal audit", type: "2", role: "13", idType: .init("12", "RFC-3881", "URI"))
    }

    private func local(_ type: String) -> AuditMessage.Code { AuditMessage.Code(type, "99PORTAL", type) }

    /// The patient as the hospital knows them (ID^^^issuer); the portal's own number when none was looked up.
    private func patientObject(_ record: PortalAuditRecord) -> AuditMessage.ParticipantObject {
        guard let patient = record.patient else {
            return .init(id: record.detail["patient"].map { "portal:" + $0 } ?? "(none)", type: "1", role: "1",
                         idType: .init("2", "RFC-3881", "Patient Number"))
        }
        return patientObject(patient)
    }

    private func patientObject(_ patient: PortalAuditRecord.Patient) -> AuditMessage.ParticipantObject {
        .init(id: patient.issuer.isEmpty ? patient.id : "\(patient.id)^^^\(patient.issuer)", type: "1", role: "1",
              idType: .init("2", "RFC-3881", "Patient Number"), name: patient.name.isEmpty ? nil : patient.name)
    }

    private func study(_ uid: String) -> AuditMessage.ParticipantObject {
        .init(id: uid, type: "2", role: "3", idType: .dcm("110180", "Study Instance UID"))
    }
}
