import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Checks a received syslog message against RFC 5424 as IHE ATNA uses it and against the DICOM
/// audit message rules: the PS3.15 A.5.1 schema's structure, value sets and element order, and the
/// participants and objects each A.5.3 event requires. Returns the problems (empty when valid) and
/// the EventID code.
public enum ATNARules {
    public static func check(_ syslog: String) -> (eventID: String?, problems: [String]) {
        var problems: [String] = []
        let bytes = Array(syslog.utf8)
        // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
        let header = syslog.split(separator: " ", maxSplits: 7, omittingEmptySubsequences: false).map(String.init)
        guard header.count == 8 else { return (nil, ["not an RFC 5424 message: \(syslog.prefix(80))"]) }
        if header[0] != "<85>1" { problems.append("PRI/VERSION \(header[0]) is not <85>1 (authpriv.notice, RFC 5424)") }
        let time = ISO8601DateFormatter()
        time.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if time.date(from: header[1]) == nil { problems.append("TIMESTAMP \(header[1]) is not RFC 3339") }
        for (index, name) in [(2, "HOSTNAME"), (3, "APP-NAME"), (4, "PROCID"), (5, "MSGID")] where
            header[index].isEmpty || !header[index].unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 }) {
            problems.append("\(name) \(header[index]) is not PRINTUSASCII")
        }
        if !["kiosk-agent", "dicom-portal"].contains(header[3]) { problems.append("APP-NAME is \(header[3])") }
        if header[5] != "DICOM+RFC3881" { problems.append("MSGID is \(header[5]), not DICOM+RFC3881") }
        if header[6] != "-" { problems.append("STRUCTURED-DATA is \(header[6]), expected -") }
        let message = Array(header[7].utf8)
        guard message.starts(with: [0xEF, 0xBB, 0xBF]) else { return (nil, problems + ["MSG does not start with the UTF-8 BOM"]) }
        _ = bytes
        let document: XMLDocument
        do { document = try XMLDocument(data: Data(message.dropFirst(3))) } catch {
            return (nil, problems + ["MSG is not well-formed XML: \(error)"])
        }
        guard let root = document.rootElement(), root.name == "AuditMessage" else { return (nil, problems + ["the root is not AuditMessage"]) }
        var checker = Checker()
        let eventID = checker.audit(root)
        return (eventID, problems + checker.problems)
    }

    struct Checker {
        var problems: [String] = []

        mutating func fail(_ text: String) { problems.append(text) }

        func elements(_ element: XMLElement) -> [XMLElement] { (element.children ?? []).compactMap { $0 as? XMLElement } }
        func attribute(_ element: XMLElement, _ name: String) -> String? { element.attribute(forName: name)?.stringValue }

        /// A CodedValueType: csd-code, codeSystemName and originalText are required.
        mutating func coded(_ element: XMLElement) -> String? {
            for name in ["csd-code", "codeSystemName", "originalText"] where (attribute(element, name) ?? "").isEmpty {
                fail("\(element.name ?? "?") has no \(name)")
            }
            return attribute(element, "csd-code")
        }

        /// Children must follow `order` (names may repeat or be absent); unknown children are errors.
        mutating func ordered(_ element: XMLElement, _ order: [String]) {
            var position = 0
            for child in elements(element) {
                guard let index = order.firstIndex(of: child.name ?? "") else { fail("\(element.name ?? "?") has an unexpected \(child.name ?? "?")"); continue }
                if index < position { fail("\(child.name ?? "?") is out of order in \(element.name ?? "?")") }
                position = index
            }
        }

        mutating func audit(_ root: XMLElement) -> String? {
            ordered(root, ["EventIdentification", "ActiveParticipant", "AuditSourceIdentification", "ParticipantObjectIdentification"])
            let children = elements(root)
            let events = children.filter { $0.name == "EventIdentification" }
            let participants = children.filter { $0.name == "ActiveParticipant" }
            let sources = children.filter { $0.name == "AuditSourceIdentification" }
            let objects = children.filter { $0.name == "ParticipantObjectIdentification" }
            guard events.count == 1, let event = events.first else { fail("EventIdentification must occur once"); return nil }
            if participants.isEmpty { fail("no ActiveParticipant") }
            if sources.count != 1 { fail("AuditSourceIdentification must occur once") }

            // EventIdentification
            ordered(event, ["EventID", "EventTypeCode", "EventOutcomeDescription", "PurposeOfUse"])
            let action = attribute(event, "EventActionCode")
            if let action, !["C", "R", "U", "D", "E"].contains(action) { fail("EventActionCode \(action)") }
            let time = ISO8601DateFormatter()
            time.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if time.date(from: attribute(event, "EventDateTime") ?? "") == nil { fail("EventDateTime is not an xsd:dateTime") }
            if !["0", "4", "8", "12"].contains(attribute(event, "EventOutcomeIndicator") ?? "") { fail("EventOutcomeIndicator missing or invalid") }
            let ids = elements(event).filter { $0.name == "EventID" }
            guard ids.count == 1, let eventID = coded(ids[0]) else { fail("EventID must occur once"); return nil }
            let types = elements(event).filter { $0.name == "EventTypeCode" }.compactMap { coded($0) }

            // ActiveParticipant
            var roles: [(XMLElement, [String])] = []
            for participant in participants {
                ordered(participant, ["RoleIDCode", "MediaIdentifier"])
                if (attribute(participant, "UserID") ?? "").isEmpty { fail("ActiveParticipant without UserID") }
                if !["true", "false"].contains(attribute(participant, "UserIsRequestor") ?? "") { fail("UserIsRequestor must be true or false") }
                if let type = attribute(participant, "NetworkAccessPointTypeCode") {
                    if !["1", "2", "3", "4", "5"].contains(type) { fail("NetworkAccessPointTypeCode \(type)") }
                    if attribute(participant, "NetworkAccessPointID") == nil { fail("NetworkAccessPointTypeCode without NetworkAccessPointID") }
                }
                for media in elements(participant).filter({ $0.name == "MediaIdentifier" }) {
                    let types = elements(media).filter { $0.name == "MediaType" }
                    if types.count != 1 { fail("MediaIdentifier needs one MediaType") } else { _ = coded(types[0]) }
                }
                roles.append((participant, elements(participant).filter { $0.name == "RoleIDCode" }.compactMap { coded($0) }))
            }
            // AuditSourceIdentification
            if let source = sources.first {
                ordered(source, ["AuditSourceTypeCode"])
                if (attribute(source, "AuditSourceID") ?? "").isEmpty { fail("AuditSourceID missing") }
                for type in elements(source) { _ = coded(type) }
            }
            // ParticipantObjectIdentification
            var kinds: [(type: String, role: String, idType: String)] = []
            for object in objects {
                ordered(object, ["ParticipantObjectIDTypeCode", "ParticipantObjectName", "ParticipantObjectQuery", "ParticipantObjectDetail",
                                 "ParticipantObjectDescription", "SOPClass", "Accession", "MPPS", "ParticipantObjectContainsStudy", "Encrypted", "Anonymized"])
                if (attribute(object, "ParticipantObjectID") ?? "").isEmpty { fail("ParticipantObjectID missing") }
                let type = attribute(object, "ParticipantObjectTypeCode") ?? ""
                let role = attribute(object, "ParticipantObjectTypeCodeRole") ?? ""
                if !["1", "2", "3", "4"].contains(type) { fail("ParticipantObjectTypeCode \(type)") }
                if !(Int(role).map { (1...24).contains($0) } ?? false) { fail("ParticipantObjectTypeCodeRole \(role)") }
                if let cycle = attribute(object, "ParticipantObjectDataLifeCycle"), !(Int(cycle).map { (1...15).contains($0) } ?? false) {
                    fail("ParticipantObjectDataLifeCycle \(cycle)")
                }
                let idTypes = elements(object).filter { $0.name == "ParticipantObjectIDTypeCode" }
                guard idTypes.count == 1, let idType = coded(idTypes[0]) else { fail("ParticipantObjectIDTypeCode must occur once"); continue }
                for detail in elements(object).filter({ $0.name == "ParticipantObjectDetail" }) where
                    attribute(detail, "type") == nil || Data(base64Encoded: attribute(detail, "value") ?? "-") == nil {
                    fail("ParticipantObjectDetail needs type and a base64 value")
                }
                for sop in elements(object).filter({ $0.name == "SOPClass" }) where
                    (attribute(sop, "UID") ?? "").isEmpty || Int(attribute(sop, "NumberOfInstances") ?? "") == nil {
                    fail("SOPClass needs UID and NumberOfInstances")
                }
                kinds.append((type, role, idType))
            }

            // PS3.15 A.5.3: what each event requires.
            func participant(role: String) -> Bool { roles.contains { $0.1.contains(role) } }
            let requestors = participants.filter { attribute($0, "UserIsRequestor") == "true" }.count
            let patients = kinds.filter { $0.type == "1" && $0.role == "1" && $0.idType == "2" }.count
            let studies = kinds.filter { $0.type == "2" && $0.role == "3" && $0.idType == "110180" }.count
            switch eventID {
            case "110100":
                if action != "E" { fail("Application Activity: EventActionCode must be E") }
                if types.count != 1 || !["110120", "110121"].contains(types[0]) { fail("Application Activity: EventTypeCode must be 110120 or 110121") }
                if !participant(role: "110150") { fail("Application Activity: no participant in role 110150 Application") }
            case "110114":
                if action != "E" { fail("User Authentication: EventActionCode must be E") }
                if types.count != 1 || !["110122", "110123"].contains(types[0]) { fail("User Authentication: EventTypeCode must be 110122 or 110123") }
                if requestors < 1 { fail("User Authentication: the user must be a requestor") }
            case "110102", "110104":
                if eventID == "110102" && action != "E" { fail("Begin Transferring: EventActionCode must be E") }
                if eventID == "110104" && !["C", "R", "U"].contains(action ?? "") { fail("Instances Transferred: EventActionCode must be C, R or U") }
                if !participant(role: "110153") || !participant(role: "110152") { fail("\(eventID): needs Source (110153) and Destination (110152)") }
                if patients != 1 { fail("\(eventID): needs exactly one patient") }
                if studies < 1 { fail("\(eventID): needs a study") }
            case "110107":
                if action != "C" { fail("Import: EventActionCode must be C") }
                if !roles.contains(where: { $0.1.contains("110155") && elements($0.0).contains { $0.name == "MediaIdentifier" } }) {
                    fail("Import: needs the Source Media (110155) with its MediaIdentifier")
                }
                if requestors < 1 { fail("Import: needs the importing person or process as requestor") }
                if patients != 1 { fail("Import: needs exactly one patient") }
                if studies < 1 { fail("Import: needs a study") }
            case "110113":
                if action != "E" { fail("Security Alert: EventActionCode must be E") }
                if types.isEmpty { fail("Security Alert: needs an EventTypeCode") }
                if requestors < 1 { fail("Security Alert: needs the reporting process as requestor") }
                if kinds.isEmpty { fail("Security Alert: needs the alert subject") }
            case "110110":
                if !["C", "R", "U", "D"].contains(action ?? "") { fail("Patient Record: EventActionCode must be C, R, U or D") }
                if patients != 1 { fail("Patient Record: needs exactly one patient") }
            case "110101":
                if action != "R" { fail("Audit Log Used: EventActionCode must be R") }
                if requestors < 1 { fail("Audit Log Used: needs the person reading the log as requestor") }
                if !kinds.contains(where: { $0.type == "2" && $0.role == "13" }) { fail("Audit Log Used: needs the audit log (system object, security resource)") }
            case "110106":
                if action != "R" { fail("Export: EventActionCode must be R") }
                if requestors < 1 { fail("Export: needs the exporting person as requestor") }
                if !roles.contains(where: { $0.1.contains("110154") && elements($0.0).contains { $0.name == "MediaIdentifier" } }) {
                    fail("Export: needs the Destination Media (110154) with its MediaIdentifier")
                }
            default:
                fail("EventID \(eventID) is not one the agent or the portal sends")
            }
            return eventID
        }
    }
}
