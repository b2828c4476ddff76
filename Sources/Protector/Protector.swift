import DICOMCore
import SessionReport

/// What the Protector decided about one DICOM file, and the model it will write.
public struct Protection: Sendable {
    public var verdict: Verdict
    public var findings: [Finding]
    public var summary: InstanceSummary?
    /// The file as it will be rebuilt; nil when rejected.
    public var rebuilt: DICOMFile?
    /// A DICOMDIR (Media Storage Directory Storage): indexes the media, never delivered.
    public var isDirectory: Bool
}

/// Takes one DICOM file apart and decides what may be delivered (ARCHITECTURE.md §1).
///
/// This stage parses within bounds, reports structural problems, and rebuilds a new Part 10 file
/// from the parsed model: zero preamble, rebuilt meta group, explicit-length sequences, nothing
/// after the data set. Public elements, UIDs and Pixel Data are carried over bit-identical.
public struct Protector: Sendable {
    public let policy: ProtectorPolicy

    public init(policy: ProtectorPolicy) { self.policy = policy }

    static let directoryStorage = "1.2.840.10008.1.3.10"
    static let trailingPadding = Tag(0xFFFC, 0xFFFC)

    public func protect(_ source: any ByteSource) -> Protection {
        let file: DICOMFile
        do {
            file = try DICOMReader.read(source, options: policy.parsing)
        } catch {
            return Protection(verdict: .rejected, findings: [StructureFindings.finding(for: error)],
                              summary: nil, rebuilt: nil, isDirectory: false)
        }
        var findings = file.issues.map(StructureFindings.finding(for:))
        var neutralised = false
        var rebuilt = file

        if let preamble = file.preamble, let finding = PreambleCheck.inspect(preamble, allowTIFF: policy.allowTIFFPreamble) {
            findings.append(finding)
            neutralised = true
        }
        if let trailing = file.trailingBytes, !trailing.isEmpty {
            findings.append(Finding("structure.trailing-data", .high,
                                    "\(trailing.count) byte(s) after the end of the data set were removed"))
            neutralised = true
        }
        if rebuilt.dataSet[Protector.trailingPadding] != nil {
            rebuilt.dataSet.remove(Protector.trailingPadding)
            findings.append(Finding("structure.trailing-data", .medium,
                                    "Data Set Trailing Padding was removed", element: Protector.trailingPadding.description))
            neutralised = true
        }

        let summary = InstanceSummary(file)
        let isDirectory = summary.sopClassUID == Protector.directoryStorage
        if !isDirectory {
            for (name, uid) in [("SOP Instance UID", summary.sopInstanceUID), ("Study Instance UID", summary.studyInstanceUID),
                                ("Series Instance UID", summary.seriesInstanceUID)] where !UID.isValid(uid) {
                findings.append(Finding("structure.invalid-uid", .high,
                                        uid.isEmpty ? "\(name) is missing" : "\(name) is not a valid UID"))
                return Protection(verdict: .rejected, findings: findings, summary: summary, rebuilt: nil, isDirectory: false)
            }
        }
        return Protection(verdict: neutralised ? .disarmed : .clean, findings: findings, summary: summary,
                          rebuilt: rebuilt, isDirectory: isDirectory)
    }

    /// Streams the rebuilt file to `sink`. Deferred (large) values are copied from `source`.
    public func write(_ protection: Protection, source: any ByteSource,
                      to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let rebuilt = protection.rebuilt else { return }
        let options = WriteOptions(implementationClassUID: policy.implementationClassUID,
                                   implementationVersionName: policy.implementationVersionName)
        try DICOMWriter.write(rebuilt, source: source, to: sink, options: options)
    }
}

