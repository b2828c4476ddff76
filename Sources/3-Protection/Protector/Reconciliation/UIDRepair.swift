import Crypto
import DICOMCore
import Foundation
import SessionReport

/// Replaces missing or unusable Study, Series and SOP Instance UIDs (and nothing else) by new
/// ones (IHE IRWF import: the receiving system coerces what it cannot store), and changes every
/// reference to them in the file. The old values — or their absence, as an empty value — are kept
/// in Original Attributes Sequence.
///
/// A new UID is `2.25.` + 128 bits of SHA-256 (PS3.5 B.2) of what identifies its entity, so every
/// file of a study gets the same new UID without shared state, and a second read of the same
/// medium gives the same UIDs (the archive recognises them instead of storing duplicates):
/// - a UID that is present but unusable: derived from the old value itself, so references to it
///   from other files of the medium map the same way;
/// - a missing Study Instance UID: from the patient (ID, name, birth date) and the study's own
///   identifiers (Study Date, Study Time, Accession Number, Study ID);
/// - a missing Series Instance UID: from the (new) Study Instance UID and the series' identifiers
///   (Series Number, Modality, Series Date, Series Time, Series Description);
/// - a missing SOP Instance UID: from the file's bytes (`seed`).
/// Files that agree on those attributes land in one study; what is absent counts as empty. When
/// all of them are absent, nothing ties the file to any other: it forms a study of its own
/// (derived from its SOP Instance UID, or its bytes) — splitting a study is harmless, merging the
/// images of unknown patients is not. The modification is a pure function of the file, so its Attribute Modification DateTime
/// is the instance's own date (see `modificationDate`), which keeps a re-read byte-identical.
public enum UIDRepair {
    static let namespace = "kiosk-agent uid repair 2"

    /// What a UID needs: nothing, a low finding (usable but zero-led: kept), or replacement.
    enum Need: Equatable { case none, keep, replace }

    static func need(_ uid: String, strict: Bool) -> Need {
        if UID.isValid(uid) { return .none }
        if UID.isUsable(uid) { return strict ? .replace : .keep }
        return .replace
    }

    static let studyBasis = [Tag.patientID, Tag.patientName, Tag.patientBirthDate, Tag.studyDate, Tag.studyTime,
                             Tag.accessionNumber, Tag.studyID]
    static let seriesBasis = [Tag.seriesNumber, Tag.modality, Tag.seriesDate, Tag.seriesTime, Tag.seriesDescription]

    /// The UIDs that need replacing, old → new (see the type's comment for the rule).
    static func plan(_ dataSet: DataSet, seed: String, strict: Bool) -> [(tag: Tag, old: String, new: String)] {
        var plan: [(Tag, String, String)] = []
        func value(_ tag: Tag) -> String { (dataSet.string(tag) ?? "").trimmingCharacters(in: .whitespaces) }
        let study = value(Tag.studyInstanceUID)
        let sop = value(Tag.sopInstanceUID)
        var newStudy = study
        if need(study, strict: strict) == .replace {
            let key = studyBasis.map(value)
            // Nothing at all to tell studies apart: the instance stands alone rather than merging
            // the images of unknown patients into one study.
            let basis = !study.isEmpty ? "uid|" + study
                : key.allSatisfy(\.isEmpty) ? "lone|" + (UID.isUsable(sop) ? sop : seed)
                : "study|" + key.joined(separator: "|")
            newStudy = derived(basis)
            plan.append((Tag.studyInstanceUID, study, newStudy))
        }
        let series = value(Tag.seriesInstanceUID)
        if need(series, strict: strict) == .replace {
            let basis = series.isEmpty ? "series|" + newStudy + "|" + seriesBasis.map(value).joined(separator: "|") : "uid|" + series
            plan.append((Tag.seriesInstanceUID, series, derived(basis)))
        }
        if need(sop, strict: strict) == .replace {
            plan.append((Tag.sopInstanceUID, sop, derived(sop.isEmpty ? "instance|" + seed : "uid|" + sop)))
        }
        return plan
    }

    static func derived(_ basis: String) -> String {
        let digest = Array(SHA256.hash(data: Array((namespace + "|" + basis).utf8)))
        let value = digest.prefix(16).reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
        return "2.25." + String(value)
    }

    /// Whether `apply` would change anything.
    static func needed(_ summary: InstanceSummary, strict: Bool) -> Bool {
        [summary.studyInstanceUID, summary.seriesInstanceUID, summary.sopInstanceUID].contains { need($0, strict: strict) == .replace }
    }

    /// Applies the plan: the three attributes, and every UI value anywhere equal to an old UID.
    /// Reason COERCE when a UID was missing (the receiving side supplies it), CORRECT when a
    /// present value was unusable.
    public static func apply(to dataSet: inout DataSet, seed: String, strict: Bool = false, system: String) -> [Finding] {
        let plan = plan(dataSet, seed: seed, strict: strict)
        guard !plan.isEmpty else { return [] }
        var originals = DataSet()
        var findings: [Finding] = []
        let names = [Tag.studyInstanceUID: "Study Instance UID", Tag.seriesInstanceUID: "Series Instance UID",
                     Tag.sopInstanceUID: "SOP Instance UID"]
        let date = modificationDate(dataSet)
        for (tag, old, new) in plan {
            originals.set(dataSet[tag] ?? DataElement(tag: tag, vr: .UI, value: .bytes(.inline([]))))
            dataSet.set(uid(tag, new))
            let was = old.isEmpty ? "missing" : UID.isUsable(old) ? "not a valid UID (zero-led component), which the destination refuses"
                : "not a usable UID"
            findings.append(Finding(.reconciliationUIDReplaced, .medium,
                "\(names[tag] ?? "UID") was \(was); replaced by a derived UID (the same for every file of the study), references changed with it",
                element: tag.description))
        }
        let map = Dictionary(plan.filter { !$0.old.isEmpty }.map { ($0.old, $0.new) }, uniquingKeysWith: { first, _ in first })
        if !map.isEmpty { replaceReferences(in: &dataSet, map) }
        let reason = plan.contains { $0.old.isEmpty } ? "COERCE" : "CORRECT"
        Reconciliation.recordOriginals(originals, reason: reason, source: dataSet.string(Tag.institutionName) ?? "", system: system,
                                       at: date, in: &dataSet)
        return findings
    }

    /// When the UIDs were "modified": the derivation depends on the file alone, so it is dated
    /// by the file — its Instance Creation, Content, Series or Study date and time, the first
    /// that is a valid date — else the DICOM epoch of this rule (1970-01-01). A clock time would
    /// make every read of the same medium a different file under the same UIDs.
    static func modificationDate(_ dataSet: DataSet) -> Date {
        let pairs = [(Tag.instanceCreationDate, Tag.instanceCreationTime), (Tag.contentDate, Tag.contentTime),
                     (Tag.seriesDate, Tag.seriesTime), (Tag.studyDate, Tag.studyTime)]
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss"
        for (dateTag, timeTag) in pairs {
            let day = (dataSet.string(dateTag) ?? "").trimmingCharacters(in: .whitespaces)
            guard day.count == 8, day.allSatisfy(\.isNumber) else { continue }
            var time = String((dataSet.string(timeTag) ?? "").trimmingCharacters(in: .whitespaces).prefix { $0.isNumber }.prefix(6))
            if time.count % 2 == 1 { time.removeLast() }
            time += String(repeating: "0", count: 6 - time.count)
            if let date = formatter.date(from: day + time) { return date }
        }
        return Date(timeIntervalSince1970: 0)
    }

    static func uid(_ tag: Tag, _ value: String) -> DataElement {
        var bytes = Array(value.utf8)
        if bytes.count & 1 == 1 { bytes.append(0) }
        return DataElement(tag: tag, vr: .UI, value: .bytes(.inline(bytes)))
    }

    /// Every UI value equal to an old UID becomes the new one, at any depth (Referenced SOP
    /// Instance UIDs, Referenced Series, Frame of Reference links…): found by an iterative walk,
    /// changed through their element paths.
    static func replaceReferences(in root: inout DataSet, _ map: [String: String]) {
        var changes: [(ElementPath, DataElement)] = []
        var pending: [(DataSet, ElementPath?, Int)] = [(root, nil, 0)]
        while let (dataSet, parent, item) = pending.popLast() {
            for element in dataSet.elements {
                let path = parent?.child(item: item, tag: element.tag) ?? ElementPath(tag: element.tag)
                if let items = element.items {
                    for (index, nested) in items.enumerated() { pending.append((nested.dataSet, path, index)) }
                }
                guard element.vr == .UI, let value = dataSet.string(element.tag) else { continue }
                let parts = value.split(separator: "\\", omittingEmptySubsequences: false).map(String.init)
                let replaced = parts.map { map[$0] ?? $0 }
                if replaced != parts { changes.append((path, uid(element.tag, replaced.joined(separator: "\\")))) }
            }
        }
        for (path, element) in changes { root.modify(at: path) { $0.set(element) } }
    }
}
