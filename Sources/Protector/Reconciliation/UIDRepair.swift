import Crypto
import DICOMCore
import Foundation
import SessionReport

/// Replaces invalid or missing Study, Series and SOP Instance UIDs (and nothing else) by new ones,
/// derived from the old value so every file of a study gets the same new UID without shared state
/// (`2.25.` + 128 bits of SHA-256, PS3.5 B.2), and changes every reference to them in the file.
/// The old values are kept in Original Attributes Sequence (reason CORRECT).
public enum UIDRepair {
    static let namespace = "kiosk-agent uid repair 1"

    /// The UIDs that need replacing, old → new. A missing UID is derived from what identifies the
    /// instance instead (`seed` names the file for a missing SOP Instance UID).
    static func plan(_ dataSet: DataSet, seed: String) -> [(tag: Tag, old: String, new: String)] {
        var plan: [(Tag, String, String)] = []
        let study = dataSet.string(Tags.studyInstanceUID) ?? ""
        var newStudy = study
        if !UID.isValid(study) {
            let basis = study.isEmpty
                ? "study|" + [Tags.patientID, Tag(0x0008, 0x0020), Tag(0x0008, 0x0030), Tag(0x0008, 0x0050), Tag(0x0020, 0x0010)]
                    .map { dataSet.string($0) ?? "" }.joined(separator: "|")
                : study
            newStudy = derived(basis)
            plan.append((Tags.studyInstanceUID, study, newStudy))
        }
        let series = dataSet.string(Tags.seriesInstanceUID) ?? ""
        if !UID.isValid(series) {
            let basis = series.isEmpty
                ? "series|" + newStudy + "|" + [Tag(0x0020, 0x0011), Tags.modality, Tag(0x0008, 0x103E)].map { dataSet.string($0) ?? "" }.joined(separator: "|")
                : series
            plan.append((Tags.seriesInstanceUID, series, derived(basis)))
        }
        let sop = dataSet.string(Tags.sopInstanceUID) ?? ""
        if !UID.isValid(sop) {
            plan.append((Tags.sopInstanceUID, sop, derived(sop.isEmpty ? "instance|" + seed : sop)))
        }
        return plan
    }

    static func derived(_ basis: String) -> String {
        let digest = Array(SHA256.hash(data: Array((namespace + "|" + basis).utf8)))
        let value = digest.prefix(16).reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
        return "2.25." + String(value)
    }

    /// Applies the plan: the three attributes, and every UI value anywhere equal to an old UID.
    public static func apply(to dataSet: inout DataSet, seed: String, system: String, at date: Date = Date()) -> [Finding] {
        let plan = plan(dataSet, seed: seed)
        guard !plan.isEmpty else { return [] }
        var originals = DataSet()
        var findings: [Finding] = []
        let names = [Tags.studyInstanceUID: "Study Instance UID", Tags.seriesInstanceUID: "Series Instance UID",
                     Tags.sopInstanceUID: "SOP Instance UID"]
        for (tag, old, new) in plan {
            originals.set(dataSet[tag] ?? DataElement(tag: tag, vr: .UI, value: .bytes(.inline([]))))
            dataSet.set(uid(tag, new))
            findings.append(Finding("reconciliation.uid-replaced", .medium,
                "\(names[tag] ?? "UID") was \(old.isEmpty ? "missing" : "not a valid UID"); replaced by a derived UID, references changed with it",
                element: tag.description))
        }
        let map = Dictionary(plan.filter { !$0.old.isEmpty }.map { ($0.old, $0.new) }, uniquingKeysWith: { first, _ in first })
        if !map.isEmpty { replaceReferences(in: &dataSet, map) }
        Reconciliation.recordOriginals(originals, reason: "CORRECT", source: "", system: system, at: date, in: &dataSet)
        return findings
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
