import AuditTrail
import Foundation
import SessionReport

/// Turns audit-trail records into PS3.15 A.5.3 messages. Records without an ATNA counterpart
/// (checkpoints, session bookkeeping) give none; the trail keeps them anyway.
public struct EventMapping: Sendable {
    /// The kiosk as an active participant: its AE title and host.
    public var aeTitle: String
    public var host: String
    public var source: AuditSource

    public init(aeTitle: String, host: String, source: AuditSource) {
        self.aeTitle = aeTitle; self.host = host; self.source = source
    }

    public func messages(for record: AuditRecord) -> [AuditMessage] {
        let d = record.details
        switch record.type {
        case .serviceStart, .serviceStop:
            let start = record.type == .serviceStart
            return [message(.dcm("110100", "Application Activity"), .execute, record,
                            types: [start ? .dcm("110120", "Application Start") : .dcm("110121", "Application Stop")],
                            participants: [application(roles: [.dcm("110150", "Application")], requestor: false)])]
        case .operatorSignIn, .operatorSignOut, .operatorSignInFailed:
            let login = record.type != .operatorSignOut
            return [message(.dcm("110114", "User Authentication"), .execute, record,
                            outcome: record.type == .operatorSignInFailed ? .minorFailure : .success,
                            types: [login ? .dcm("110122", "Login") : .dcm("110123", "Logout")],
                            description: d["reason"],
                            participants: [person(record.actor), application(roles: [], requestor: false)])]
        case .operatorLocked:
            return [securityAlert(record, type: .dcm("110137", "User Security Attributes Changed"),
                                  description: "operator locked out after repeated failed sign-ins",
                                  subject: ParticipantObjectKind.user(record.actor))]
        case .finding, .quarantine:
            let codes = (d["codes"] ?? d["code"] ?? "").split(separator: ",").map { FindingCode(rawValue: String($0)) }
            guard let threat = codes.first(where: EventMapping.isThreat) else { return [] }
            let kind: AuditMessage.Code = threat.family == .malware
                ? AuditMessage.Code("MALWARE", "99KIOSK", "Malicious content detected on imported media")
                : AuditMessage.Code("POLYGLOT", "99KIOSK", "Program hidden in a DICOM file")
            let verdict = record.type == .quarantine ? "refused and quarantined" : "part removed, file rebuilt"
            return [securityAlert(record, type: kind, description: "\(codes.map(\.rawValue).joined(separator: ", ")): \(verdict)",
                                  subject: .file(path: d["path"] ?? "", sha256: d["sha256"], session: record.session))]
        case .importStudy:
            var media = application(roles: [.dcm("110155", "Source Media")], requestor: false)
            media.userID = d["source"] ?? "media"
            media.alternativeUserID = nil
            media.networkAccessPoint = nil
            media.networkAccessPointType = nil
            media.mediaType = EventMapping.mediaType(d["media"])
            var importer = application(roles: [.dcm("110152", "Destination Role ID")], requestor: false)
            importer.userName = d["destination"]
            return [message(.dcm("110107", "Import"), .create, record,
                            outcome: d["override"] == "yes" ? .minorFailure : .success,
                            description: d["override"] == "yes" ? "identity mismatch imported by recorded override" : nil,
                            participants: [person(record.actor), media, importer],
                            objects: [patient(d), study(d)])]
        case .transferBegin, .transfer:
            let begin = record.type == .transferBegin
            let stored = Int(d["stored"] ?? "") ?? 0, failed = Int(d["failed"] ?? "") ?? 0
            var destination = AuditMessage.ActiveParticipant(userID: d["destination"] ?? "", isRequestor: false,
                                                             roles: [.dcm("110152", "Destination Role ID")])
            if let host = d["host"] { destination.networkAccessPoint = host; destination.networkAccessPointType = EventMapping.accessPointType(host) }
            return [message(begin ? .dcm("110102", "Begin Transferring DICOM Instances") : .dcm("110104", "DICOM Instances Transferred"),
                            begin ? .execute : .create, record,
                            outcome: begin || failed == 0 ? .success : stored == 0 ? .seriousFailure : .minorFailure,
                            description: begin || failed == 0 ? nil : "\(failed) instance(s) not stored: \(d["failures"] ?? "")",
                            participants: [application(roles: [.dcm("110153", "Source Role ID")], requestor: true), destination],
                            objects: [patient(d), study(d)])]
        case .patientUpdated:
            var object = patient(d)
            object.lifeCycle = "3"   // amendment
            if let attributes = d["attributes"] { object.descriptions = [attributes] }
            return [message(.dcm("110110", "Patient Record"), .update, record,
                            description: "demographics coerced to the hospital's values on import (originals kept in the instances)",
                            participants: [person(record.actor), application(roles: [], requestor: false)],
                            objects: [object, study(d)])]
        default:
            return []
        }
    }

    /// Malware, and executables hidden in DICOM files (polyglots).
    public static func isThreat(_ code: FindingCode) -> Bool {
        code.family == .malware || code == .preambleExecutable || code == .executableEmbedded || code == .documentExecutable
    }

    // MARK: parts

    enum ParticipantObjectKind { case user(String), file(path: String, sha256: String?, session: String?) }

    private func message(_ id: AuditMessage.Code, _ action: AuditMessage.Action, _ record: AuditRecord, outcome: AuditMessage.Outcome = .success,
                         types: [AuditMessage.Code] = [], description: String? = nil, participants: [AuditMessage.ActiveParticipant],
                         objects: [AuditMessage.ParticipantObject] = []) -> AuditMessage {
        AuditMessage(eventID: id, action: action, time: record.time, outcome: outcome, eventTypes: types, outcomeDescription: description,
                     participants: participants, source: source, objects: objects)
    }

    private func securityAlert(_ record: AuditRecord, type: AuditMessage.Code, description: String, subject: ParticipantObjectKind) -> AuditMessage {
        let object: AuditMessage.ParticipantObject
        switch subject {
        case let .user(name):
            object = .init(id: name, type: "1", role: "11", idType: .init("11", "RFC-3881", "User Identifier"))
        case let .file(path, sha256, session):
            var file = AuditMessage.ParticipantObject(id: path, type: "2", role: "13", idType: .init("12", "RFC-3881", "URI"))
            if let sha256 { file.details.append(("SHA-256", sha256)) }
            if let session { file.details.append(("session", session)) }
            object = file
        }
        return message(.dcm("110113", "Security Alert"), .execute, record, outcome: .seriousFailure, types: [type], description: description,
                       participants: [application(roles: [], requestor: true)], objects: [object])
    }

    private func application(roles: [AuditMessage.Code], requestor: Bool) -> AuditMessage.ActiveParticipant {
        .init(userID: aeTitle, alternativeUserID: "kiosk-agent", isRequestor: requestor, networkAccessPoint: host,
              networkAccessPointType: EventMapping.accessPointType(host), roles: roles)
    }

    private func person(_ name: String) -> AuditMessage.ActiveParticipant {
        .init(userID: name.isEmpty ? "unknown" : name, isRequestor: true)
    }

    private func patient(_ d: [String: String]) -> AuditMessage.ParticipantObject {
        .init(id: d["patientID"].flatMap { $0.isEmpty ? nil : $0 } ?? "(none)", type: "1", role: "1",
              idType: .init("2", "RFC-3881", "Patient Number"), name: d["patientName"].flatMap { $0.isEmpty ? nil : $0 })
    }

    private func study(_ d: [String: String]) -> AuditMessage.ParticipantObject {
        var study = AuditMessage.ParticipantObject(id: d["study"] ?? "", type: "2", role: "3", idType: .dcm("110180", "Study Instance UID"))
        study.sopClasses = EventMapping.sopClasses(d["sopClasses"])
        return study
    }

    /// `uid=count;uid=count` as the audit records keep it.
    public static func sopClasses(_ text: String?) -> [AuditMessage.SOPClass] {
        (text ?? "").split(separator: ";").compactMap { pair in
            let parts = pair.split(separator: "=")
            guard parts.count == 2, let count = Int(parts[1]) else { return nil }
            return .init(uid: String(parts[0]), instances: count)
        }
    }

    /// PS3.16 CID 405 media types for the medium the disc came on.
    static func mediaType(_ kind: String?) -> AuditMessage.Code {
        switch kind {
        case "dvd": .dcm("110033", "DVD")
        case "usb": .dcm("110030", "USB Disk Emulation")
        case "cd": .dcm("110032", "CD")
        default: .dcm("110037", "URI")
        }
    }

    static func accessPointType(_ host: String) -> String {
        host.allSatisfy { $0.isNumber || $0 == "." } || host.contains(":") ? "2" : "1"
    }
}
