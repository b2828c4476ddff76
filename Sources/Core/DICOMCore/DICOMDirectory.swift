/// A DICOMDIR's record tree (PS3.3 F.3), followed through its offset links with a visited set, so
/// a record that links back to itself or an ancestor ends that branch with an issue
/// (THREATS.md 12). Referenced File IDs are returned raw: the caller resolves them inside the
/// media root.
public struct DICOMDirectory: Sendable {
    public struct Record: Sendable, Equatable {
        /// PATIENT, STUDY, SERIES, IMAGE, …
        public let type: String
        /// Depth in the tree (PATIENT = 0).
        public let level: Int
        /// (0004,1500) components as stored, e.g. ["DICOM", "ST000000", "IM000000"].
        public let referencedFileID: [String]?
        public let referencedSOPClassUID: String?
        public let referencedSOPInstanceUID: String?
        public let referencedTransferSyntaxUID: String?
        public let patientID: String?
        public let studyInstanceUID: String?
        public let seriesInstanceUID: String?
        public let modality: String?
        /// File offset of the record's item.
        public let offset: Int64
    }

    public struct Issue: Sendable, Equatable, CustomStringConvertible {
        public let isLoop: Bool
        public let offset: Int64
        public let detail: String
        public var description: String { "\(detail) (record at byte \(offset))" }
    }

    /// Records in tree order (each followed by its lower-level records).
    public let records: [Record]
    public let issues: [Issue]

    public static func parse(_ file: DICOMFile, source: any ByteSource, options: ParsingOptions = ParsingOptions()) throws(DICOMParseError) -> DICOMDirectory {
        guard let sequence = file.dataSet[Tag.directoryRecordSequence], let items = sequence.items else {
            throw DICOMParseError(.badDelimiter, at: 0, tag: Tag.directoryRecordSequence, "no Directory Record Sequence")
        }
        let big = file.transferSyntax.bigEndian
        var byOffset: [Int64: Int] = [:]
        for (index, item) in items.enumerated() where byOffset[item.offset] == nil { byOffset[item.offset] = index }

        var issues: [Issue] = []
        var records: [Record] = []
        let first = file.dataSet.uint32(Tag.offsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity, bigEndian: big).map(Int64.init) ?? 0
        if first == 0 || byOffset[first] == nil {
            if !items.isEmpty {
                issues.append(Issue(isLoop: false, offset: first,
                                    detail: "the root record offset does not point at a record; records read in sequence order"))
            }
            records = items.map { record($0, level: 0, big: big) }
            return DICOMDirectory(records: records, issues: issues)
        }

        // Depth-first over (offset, level) with an explicit stack; a visited set breaks loops.
        var visited = Set<Int64>()
        var stack: [(offset: Int64, level: Int)] = [(first, 0)]
        while let (offset, level) = stack.popLast() {
            guard level < options.maxDepth else {
                issues.append(Issue(isLoop: false, offset: offset, detail: "records nested deeper than \(options.maxDepth)"))
                continue
            }
            guard let index = byOffset[offset] else {
                issues.append(Issue(isLoop: false, offset: offset, detail: "a record link points at no record"))
                continue
            }
            guard visited.insert(offset).inserted else {
                issues.append(Issue(isLoop: true, offset: offset, detail: "a record link points back at an earlier record"))
                continue
            }
            let item = items[index]
            records.append(record(item, level: level, big: big))
            // Push next sibling first so the lower level is visited first (tree order).
            if let next = item.dataSet.uint32(Tag.offsetOfTheNextDirectoryRecord, bigEndian: big), next != 0 {
                stack.append((Int64(next), level))
            }
            if let lower = item.dataSet.uint32(Tag.offsetOfReferencedLowerLevelDirectoryEntity, bigEndian: big), lower != 0 {
                stack.append((Int64(lower), level + 1))
            }
        }
        let unreached = items.count - visited.count
        if unreached > 0 {
            issues.append(Issue(isLoop: false, offset: 0, detail: "\(unreached) record(s) are not reachable from the root"))
        }
        return DICOMDirectory(records: records, issues: issues)
    }

    private static func record(_ item: Item, level: Int, big: Bool) -> Record {
        let ds = item.dataSet
        let fileID = ds[Tag.referencedFileID] != nil ? ds.strings(Tag.referencedFileID) : nil
        return Record(type: ds.string(Tag.directoryRecordType) ?? "", level: level, referencedFileID: fileID,
                      referencedSOPClassUID: ds.string(Tag.referencedSOPClassUIDInFile),
                      referencedSOPInstanceUID: ds.string(Tag.referencedSOPInstanceUIDInFile),
                      referencedTransferSyntaxUID: ds.string(Tag.referencedTransferSyntaxUIDInFile),
                      patientID: ds.string(Tag.patientID), studyInstanceUID: ds.string(Tag.studyInstanceUID),
                      seriesInstanceUID: ds.string(Tag.seriesInstanceUID), modality: ds.string(Tag.modality),
                      offset: item.offset)
    }
}
