/// Why a file could not be read. Always carries the byte offset where it went wrong.
public struct DICOMParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case truncated, lengthOverflow, nestingTooDeep, invalidVR, oddLength, noFileMeta, badMetaEncoding
        case unsupportedTransferSyntax, tooManyElements, fileTooLarge, inflate, badDelimiter, undefinedLength, source
    }

    public let kind: Kind
    public let offset: Int64
    public let tag: Tag?
    public let detail: String

    public init(_ kind: Kind, at offset: Int64, tag: Tag? = nil, _ detail: String) {
        self.kind = kind; self.offset = offset; self.tag = tag; self.detail = detail
    }

    public var description: String {
        "\(detail) at byte \(offset)" + (tag.map { " in \($0)" } ?? "")
    }
}

/// Something tolerated while reading (by `ParsingOptions`), reported so the Protector can decide.
public struct ParseIssue: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case oddLength, noFileMeta, missingTransferSyntax, metaGroupLength, duplicateTag, unknownVR, implicitUN
    }

    public let kind: Kind
    public let offset: Int64
    public let tag: Tag?
    public let detail: String

    public init(_ kind: Kind, at offset: Int64, tag: Tag? = nil, _ detail: String) {
        self.kind = kind; self.offset = offset; self.tag = tag; self.detail = detail
    }

    public var description: String { "\(detail) at byte \(offset)" + (tag.map { " in \($0)" } ?? "") }
}
