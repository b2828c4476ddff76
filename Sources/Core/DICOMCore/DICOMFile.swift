/// A parsed Part 10 file (or raw data set). Large values may still live in the source it was
/// read from: write it with the same source.
public struct DICOMFile: Sendable {
    /// The 128-byte preamble, nil when the file had none.
    public var preamble: [UInt8]?
    /// File Meta Information (group 0002), explicit VR little endian.
    public var meta: DataSet
    public var dataSet: DataSet
    public var transferSyntax: TransferSyntax
    /// Bytes after the end of the data set that could not be elements (THREATS.md 2).
    public var trailingBytes: Range<Int64>?
    /// What was tolerated while reading.
    public var issues: [ParseIssue]

    public init(preamble: [UInt8]?, meta: DataSet, dataSet: DataSet, transferSyntax: TransferSyntax,
                trailingBytes: Range<Int64>? = nil, issues: [ParseIssue] = []) {
        self.preamble = preamble; self.meta = meta; self.dataSet = dataSet; self.transferSyntax = transferSyntax
        self.trailingBytes = trailingBytes; self.issues = issues
    }
}

public enum Tags {
    public static let fileMetaGroupLength = Tag(0x0002, 0x0000)
    public static let fileMetaVersion = Tag(0x0002, 0x0001)
    public static let mediaStorageSOPClassUID = Tag(0x0002, 0x0002)
    public static let mediaStorageSOPInstanceUID = Tag(0x0002, 0x0003)
    public static let transferSyntaxUID = Tag(0x0002, 0x0010)
    public static let implementationClassUID = Tag(0x0002, 0x0012)
    public static let implementationVersionName = Tag(0x0002, 0x0013)
    public static let specificCharacterSet = Tag(0x0008, 0x0005)
    public static let sopClassUID = Tag(0x0008, 0x0016)
    public static let sopInstanceUID = Tag(0x0008, 0x0018)
    public static let studyDate = Tag(0x0008, 0x0020)
    public static let modality = Tag(0x0008, 0x0060)
    public static let institutionName = Tag(0x0008, 0x0080)
    public static let studyDescription = Tag(0x0008, 0x1030)
    public static let patientName = Tag(0x0010, 0x0010)
    public static let patientID = Tag(0x0010, 0x0020)
    public static let patientBirthDate = Tag(0x0010, 0x0030)
    public static let studyInstanceUID = Tag(0x0020, 0x000D)
    public static let seriesInstanceUID = Tag(0x0020, 0x000E)
    public static let pixelData = Tag(0x7FE0, 0x0010)
    public static let dataSetTrailingPadding = Tag(0xFFFC, 0xFFFC)
    public static let item = Tag(0xFFFE, 0xE000)
    public static let itemDelimitation = Tag(0xFFFE, 0xE00D)
    public static let sequenceDelimitation = Tag(0xFFFE, 0xE0DD)
}
