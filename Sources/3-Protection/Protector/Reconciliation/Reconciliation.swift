import DICOMCore
import Foundation
import SessionReport

/// IHE Import Reconciliation (issue 3, part 6): the instance is delivered under the hospital's own
/// identifiers — Patient ID (with its issuer), Patient's Name, Accession Number — and keeps what the
/// media said in Other Patient IDs Sequence and Original Attributes Sequence (reason COERCE). Study,
/// Series and SOP Instance UIDs are never changed unless invalid (`UIDRepair`).
public struct Reconciliation: Sendable, Equatable, Codable {
    public var patientID: String?
    public var issuerOfPatientID: String?
    /// `Family^Given^Middle`.
    public var patientName: String?
    public var accessionNumber: String?
    /// Written into Modifying System (0400,0563).
    public var modifyingSystem: String
    /// Written into Attribute Modification DateTime; nil: the time of the rebuild. The portal fixes it per batch,
    /// so every run of a batch rebuilds the same bytes and the delivery ledger (which knows an instance by its
    /// bytes) recognises what an earlier run delivered.
    public var modificationDate: Date?

    public init(patientID: String? = nil, issuerOfPatientID: String? = nil, patientName: String? = nil,
                accessionNumber: String? = nil, modifyingSystem: String = "kiosk-agent") {
        self.patientID = patientID; self.issuerOfPatientID = issuerOfPatientID; self.patientName = patientName
        self.accessionNumber = accessionNumber; self.modifyingSystem = modifyingSystem
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// A new value has characters the data set's Specific Character Set cannot carry.
        case unencodable(attribute: String, characterSet: String)

        public var description: String {
            switch self {
            case let .unencodable(attribute, characterSet):
                "the new \(attribute) cannot be written in the file's character set (\(characterSet.isEmpty ? "default repertoire" : characterSet))"
            }
        }
    }

    /// Coerces `dataSet` in place; returns what changed as findings (nothing when the values are
    /// already the local ones). On failure nothing is changed. `date`: the modification time to record;
    /// nil: `modificationDate`, else now.
    public func apply(to dataSet: inout DataSet, at date: Date? = nil) throws(Failure) -> [Finding] {
        let date = date ?? modificationDate ?? Date()
        let wanted: [(Tag, VR, String?, String)] = [
            (Tag.patientID, .LO, patientID, "Patient ID"), (Tag.issuerOfPatientID, .LO, issuerOfPatientID, "Issuer of Patient ID"),
            (Tag.patientName, .PN, patientName, "Patient's Name"), (Tag.accessionNumber, .SH, accessionNumber, "Accession Number"),
        ]
        var encoder = TextEncoder(dataSet)
        var originals = DataSet()
        var changes: [(Tag, VR, [UInt8], String)] = []
        for (tag, vr, value, name) in wanted {
            guard let value else { continue }
            let bytes = try encoder.encode(value, vr: vr, attribute: name)
            let old = dataSet[tag]?.inlineBytes ?? []
            guard Reconciliation.trimmed(old) != Reconciliation.trimmed(bytes) else { continue }
            // The original, or an empty value when the media had none (PS3.3 C.12.1.1.9.2).
            originals.set(dataSet[tag] ?? DataElement(tag: tag, vr: vr, value: .bytes(.inline([]))))
            changes.append((tag, vr, bytes, name))
        }
        // A new Patient ID and no issuer of ours configured: the media's issuer named the other facility as the
        // issuer of the ID it replaced, and must not stay beside ours (it is kept with that ID in Other Patient IDs).
        if issuerOfPatientID == nil, changes.contains(where: { $0.0 == Tag.patientID }), let issuer = dataSet[Tag.issuerOfPatientID],
           !Reconciliation.trimmed(issuer.inlineBytes ?? []).isEmpty {
            originals.set(issuer)
            changes.append((Tag.issuerOfPatientID, .LO, [], "Issuer of Patient ID"))
        }
        guard !changes.isEmpty else { return [] }
        var findings: [Finding] = []
        if changes.contains(where: { $0.0 == Tag.patientID }), let oldID = dataSet[Tag.patientID]?.inlineBytes,
           !Reconciliation.trimmed(oldID).isEmpty {
            var other = DataSet()
            other.set(DataElement(tag: Tag.patientID, vr: .LO, value: .bytes(.inline(oldID))))
            other.set(dataSet[Tag.issuerOfPatientID] ?? Reconciliation.text(Tag.issuerOfPatientID, .LO, ""))
            other.set(Reconciliation.text(Tag.typeOfPatientID, .CS, "TEXT"))
            Reconciliation.append(other, to: Tag.otherPatientIDsSequence, in: &dataSet)
        }
        for (tag, vr, bytes, name) in changes {
            dataSet.set(DataElement(tag: tag, vr: vr, value: .bytes(.inline(bytes))))
            findings.append(Finding(.reconciliationCoerced, .info, "\(name) set to the hospital's value; the original is kept in Original Attributes Sequence",
                                    element: tag.description))
        }
        if encoder.declaresUTF8 { dataSet.set(Reconciliation.text(Tag.specificCharacterSet, .CS, "ISO_IR 192")) }
        let source = dataSet.string(Tag.institutionName) ?? ""
        Reconciliation.recordOriginals(originals, reason: "COERCE", source: source, system: modifyingSystem, at: date, in: &dataSet)
        return findings
    }

    /// Appends an Original Attributes Sequence item (PS3.3 C.12.1) holding `originals`.
    static func recordOriginals(_ originals: DataSet, reason: String, source: String, system: String, at date: Date, in dataSet: inout DataSet) {
        var item = DataSet()
        item.set(DataElement(tag: Tag.modifiedAttributesSequence, vr: .SQ, value: .sequence([Item(dataSet: originals, offset: 0)])))
        item.set(text(Tag.attributeModificationDateTime, .DT, dateTime(date)))
        item.set(text(Tag.modifyingSystem, .LO, system))
        item.set(text(Tag.sourceOfPreviousValues, .LO, String(source.prefix(64))))
        item.set(text(Tag.reasonForTheAttributeModification, .CS, reason))
        append(item, to: Tag.originalAttributesSequence, in: &dataSet)
    }

    static func append(_ item: DataSet, to sequence: Tag, in dataSet: inout DataSet) {
        let items = (dataSet[sequence]?.items ?? []) + [Item(dataSet: item, offset: 0)]
        dataSet.set(DataElement(tag: sequence, vr: .SQ, value: .sequence(items)))
    }

    static func text(_ tag: Tag, _ vr: VR, _ value: String) -> DataElement {
        var bytes = Array(value.utf8)
        if bytes.count & 1 == 1 { bytes.append(vr.paddingByte) }
        return DataElement(tag: tag, vr: vr, value: .bytes(.inline(bytes)))
    }

    static func trimmed(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        var slice = bytes[...]
        while let last = slice.last, last == 0x20 || last == 0 { slice = slice.dropLast() }
        while let first = slice.first, first == 0x20 { slice = slice.dropFirst() }
        return slice
    }

    static func dateTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss"
        return formatter.string(from: date) + "+0000"
    }
}

/// Encodes new text values in the data set's Specific Character Set: ASCII always; Latin-1 under
/// ISO_IR 100; UTF-8 under ISO_IR 192, or when the data set declares nothing and holds only ASCII
/// (it then declares ISO_IR 192). Anything else cannot be written without re-encoding the file.
struct TextEncoder {
    let terms: [String]
    private(set) var declaresUTF8 = false
    private let onlyASCII: Bool

    init(_ dataSet: DataSet) {
        terms = dataSet.strings(Tag.specificCharacterSet).filter { !$0.isEmpty }
        onlyASCII = terms.isEmpty && TextEncoder.isASCII(dataSet)
    }

    mutating func encode(_ value: String, vr: VR, attribute: String) throws(Reconciliation.Failure) -> [UInt8] {
        var bytes: [UInt8]
        if value.unicodeScalars.allSatisfy(\.isASCII) {
            bytes = Array(value.utf8)
        } else if terms == ["ISO_IR 192"] {
            bytes = Array(value.utf8)
        } else if terms == ["ISO_IR 100"], value.unicodeScalars.allSatisfy({ $0.value <= 0xFF }) {
            bytes = value.unicodeScalars.map { UInt8($0.value) }
        } else if onlyASCII {
            declaresUTF8 = true
            bytes = Array(value.utf8)
        } else {
            throw .unencodable(attribute: attribute, characterSet: terms.joined(separator: "\\"))
        }
        if bytes.count & 1 == 1 { bytes.append(vr.paddingByte) }
        return bytes
    }

    /// Whether every character-set-sensitive text value, at any depth, is 7-bit.
    static func isASCII(_ root: DataSet) -> Bool {
        var pending = [root]
        while let dataSet = pending.popLast() {
            for element in dataSet.elements {
                if let items = element.items { pending += items.map(\.dataSet) }
                if element.vr.isCharacterSetSensitive, let bytes = element.inlineBytes, bytes.contains(where: { $0 >= 0x80 }) { return false }
            }
        }
        return true
    }
}
