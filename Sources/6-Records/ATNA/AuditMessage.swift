import Foundation
import SessionReport

/// A DICOM audit message (PS3.15 Annex A.5, the schema IHE ATNA repositories accept), encoded as
/// XML in the schema's element order.
public struct AuditMessage: Sendable, Equatable {
    /// A coded value: `csd-code`, `codeSystemName` and the required `originalText`.
    public struct Code: Sendable, Equatable {
        public var code: String
        public var system: String
        public var meaning: String
        public init(_ code: String, _ system: String, _ meaning: String) { self.code = code; self.system = system; self.meaning = meaning }
        static func dcm(_ code: String, _ meaning: String) -> Code { Code(code, "DCM", meaning) }
    }

    public enum Action: String, Sendable { case create = "C", read = "R", update = "U", delete = "D", execute = "E" }

    /// 0 success, 4 minor failure, 8 serious failure, 12 major failure.
    public enum Outcome: String, Sendable { case success = "0", minorFailure = "4", seriousFailure = "8", majorFailure = "12" }

    public struct ActiveParticipant: Sendable, Equatable {
        public var userID: String
        public var alternativeUserID: String?
        public var userName: String?
        public var isRequestor: Bool
        public var networkAccessPoint: String?
        /// 1 machine name, 2 IP address.
        public var networkAccessPointType: String?
        public var roles: [Code] = []
        /// The media an importing or exporting participant read or wrote (Source Media).
        public var mediaType: Code?
    }

    public struct SOPClass: Sendable, Equatable {
        public var uid: String
        public var instances: Int
    }

    public struct ParticipantObject: Sendable, Equatable {
        public var id: String
        /// 1 person, 2 system object, 3 organization, 4 other.
        public var type: String
        /// 1 patient, 3 report, 4 resource, 13 security resource, …
        public var role: String
        public var lifeCycle: String?
        public var idType: Code
        public var name: String?
        public var details: [(String, String)] = []
        public var descriptions: [String] = []
        public var sopClasses: [SOPClass] = []

        public static func == (a: Self, b: Self) -> Bool {
            a.id == b.id && a.type == b.type && a.role == b.role && a.lifeCycle == b.lifeCycle && a.idType == b.idType && a.name == b.name
                && a.details.map { $0.0 + "=" + $0.1 } == b.details.map { $0.0 + "=" + $0.1 } && a.descriptions == b.descriptions
                && a.sopClasses == b.sopClasses
        }
    }

    public var eventID: Code
    public var action: Action
    public var time: Date
    public var outcome: Outcome
    public var eventTypes: [Code] = []
    public var outcomeDescription: String?
    public var participants: [ActiveParticipant]
    public var source: AuditSource
    public var objects: [ParticipantObject] = []

    /// The UTF-8 XML document.
    public func xml() -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><AuditMessage>"
        out += "<EventIdentification EventActionCode=\"\(action.rawValue)\" EventDateTime=\"\(AuditMessage.dateTime(time))\""
            + " EventOutcomeIndicator=\"\(outcome.rawValue)\">"
        out += AuditMessage.code("EventID", eventID)
        for type in eventTypes { out += AuditMessage.code("EventTypeCode", type) }
        if let outcomeDescription { out += "<EventOutcomeDescription>\(Markup.escape(outcomeDescription))</EventOutcomeDescription>" }
        out += "</EventIdentification>"
        for participant in participants {
            out += "<ActiveParticipant UserID=\"\(Markup.escape(participant.userID))\""
            if let alternative = participant.alternativeUserID { out += " AlternativeUserID=\"\(Markup.escape(alternative))\"" }
            if let name = participant.userName { out += " UserName=\"\(Markup.escape(name))\"" }
            out += " UserIsRequestor=\"\(participant.isRequestor)\""
            if let point = participant.networkAccessPoint, let type = participant.networkAccessPointType {
                out += " NetworkAccessPointID=\"\(Markup.escape(point))\" NetworkAccessPointTypeCode=\"\(type)\""
            }
            out += ">"
            for role in participant.roles { out += AuditMessage.code("RoleIDCode", role) }
            if let media = participant.mediaType { out += "<MediaIdentifier>" + AuditMessage.code("MediaType", media) + "</MediaIdentifier>" }
            out += "</ActiveParticipant>"
        }
        out += "<AuditSourceIdentification AuditSourceID=\"\(Markup.escape(source.id))\""
        if let site = source.enterpriseSiteID { out += " AuditEnterpriseSiteID=\"\(Markup.escape(site))\"" }
        out += ">" + AuditMessage.code("AuditSourceTypeCode", source.type) + "</AuditSourceIdentification>"
        for object in objects {
            out += "<ParticipantObjectIdentification ParticipantObjectID=\"\(Markup.escape(object.id))\""
                + " ParticipantObjectTypeCode=\"\(object.type)\" ParticipantObjectTypeCodeRole=\"\(object.role)\""
            if let lifeCycle = object.lifeCycle { out += " ParticipantObjectDataLifeCycle=\"\(lifeCycle)\"" }
            out += ">" + AuditMessage.code("ParticipantObjectIDTypeCode", object.idType)
            if let name = object.name { out += "<ParticipantObjectName>\(Markup.escape(name))</ParticipantObjectName>" }
            for (type, value) in object.details {
                out += "<ParticipantObjectDetail type=\"\(Markup.escape(type))\" value=\"\(Data(value.utf8).base64EncodedString())\"/>"
            }
            for description in object.descriptions {
                out += "<ParticipantObjectDescription>\(Markup.escape(description))</ParticipantObjectDescription>"
            }
            for sop in object.sopClasses { out += "<SOPClass UID=\"\(Markup.escape(sop.uid))\" NumberOfInstances=\"\(sop.instances)\"/>" }
            out += "</ParticipantObjectIdentification>"
        }
        return out + "</AuditMessage>"
    }

    static func code(_ element: String, _ code: Code) -> String {
        "<\(element) csd-code=\"\(Markup.escape(code.code))\" codeSystemName=\"\(Markup.escape(code.system))\" originalText=\"\(Markup.escape(code.meaning))\"/>"
    }

    /// xsd:dateTime in UTC with milliseconds.
    static func dateTime(_ date: Date) -> String {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return format.string(from: date)
    }
}

/// Who reports: the kiosk (`AuditSourceID`, usually its host name) at its site.
public struct AuditSource: Sendable, Equatable {
    public var id: String
    public var enterpriseSiteID: String?
    /// RFC 3881 audit source type 4, "Application Server Process": the agent is a service process.
    public var type = AuditMessage.Code("4", "RFC-3881", "Application Server Process")

    public init(id: String, enterpriseSiteID: String?) { self.id = id; self.enterpriseSiteID = enterpriseSiteID }
}
