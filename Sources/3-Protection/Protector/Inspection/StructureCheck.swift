import DICOMCore
import SessionReport

/// Structure the codec accepted but the Protector still refuses or repairs (THREATS.md 8): a
/// transfer syntax off the allow-list, and values whose VR contradicts the dictionary in a way a
/// downstream reader could misread (a US read as UL overflowed Orthanc, CVE-2026-5442).
enum StructureCheck {
    /// Attributes without which an image is not an image: a bad one rejects the file, never removed.
    static let essential: Set<Tag> = [
        Tag.sopClassUID, Tag.sopInstanceUID, Tag.studyInstanceUID, Tag.seriesInstanceUID, Tag.pixelData,
        Tag.samplesPerPixel, Tag.photometricInterpretation, Tag.planarConfiguration, Tag.numberOfFrames, Tag.rows,
        Tag.columns, Tag.bitsAllocated, Tag.bitsStored, Tag.highBit, Tag.pixelRepresentation,
        Tag.encapsulatedDocument, Tag.mimeTypeOfEncapsulatedDocument, Tag.waveformSequence, Tag.waveformData,
    ]

    /// Fixed-width binary VRs: reading one as another changes how many bytes each value takes.
    static let binaryWidth: [VR: Int] = [.US: 2, .SS: 2, .UL: 4, .SL: 4, .FL: 4, .FD: 8, .AT: 4, .SV: 8, .UV: 8]

    static func observations(_ file: DICOMFile, accepted: Set<String>?) -> [Observation] {
        var observations: [Observation] = []
        if let accepted, !accepted.contains(file.transferSyntax.uid) {
            observations.append(Observation(Finding(.structureBadTransferSyntax, .high,
                "transfer syntax \(file.transferSyntax.uid) is not on the allow-list", element: Tag.transferSyntaxUID.description),
                remedy: .reject))
        }
        // Implicit VR data sets carry no VR of their own: the parser took the dictionary's.
        guard file.transferSyntax.explicitVR else { return observations }
        var pending: [(DataSet, ElementPath?, Int)] = [(file.dataSet, nil, 0)]
        var unknown = 0
        while let (dataSet, parent, item) = pending.popLast() {
            for element in dataSet.elements {
                let path = parent?.child(item: item, tag: element.tag) ?? ElementPath(tag: element.tag)
                if let items = element.items {
                    for (index, nested) in items.enumerated() { pending.append((nested.dataSet, path, index)) }
                }
                if element.vr == .UN, !element.tag.isPrivate, DataDictionary.entry(for: element.tag) != nil { unknown += 1 }
                guard element.vr != .UN, !element.tag.isPrivate, let expected = DataDictionary.entry(for: element.tag)?.vrs,
                      !expected.isEmpty, !expected.contains(element.vr) else { continue }
                let risky = binaryWidth[element.vr] != nil || expected.contains { binaryWidth[$0] != nil }
                let detail = "VR \(element.vr.rawValue) where the dictionary says \(expected.map(\.rawValue).joined(separator: " or "))"
                if !risky {
                    observations.append(Observation(Finding(.structureInvalidVR, .info, detail + "; kept as read", element: path.description)))
                } else if essential.contains(element.tag) {
                    observations.append(Observation(Finding(.structureInvalidVR, .high, detail, element: path.description), remedy: .reject))
                } else {
                    observations.append(Observation(Finding(.structureInvalidVR, .medium, detail + "; removed", element: path.description),
                                                    remedy: .removeElement(path)))
                }
            }
        }
        if unknown > 0 && !file.transferSyntax.bigEndian {
            // DICOMWriter gives them their dictionary VR back (a DCMTK-based PACS cannot read UN UIDs).
            observations.append(Observation(Finding(.structureUnknownVR, .info,
                "\(unknown) public attribute(s) stored as UN; rebuilt with their dictionary VR", element: nil)))
        }
        return observations
    }
}
