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
