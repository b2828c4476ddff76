import DICOMCore
import SessionReport

/// `structure.*` findings (ARCHITECTURE.md §3.3) for what the codec refused or tolerated.
enum StructureFindings {
    static func finding(for error: DICOMParseError) -> Finding {
        let (code, severity): (String, Severity) = switch error.kind {
        case .truncated: ("structure.truncated", .medium)
        case .lengthOverflow: ("structure.length-overflow", .high)
        case .nestingTooDeep: ("structure.nesting-depth", .high)
        case .invalidVR: ("structure.invalid-vr", .medium)
        case .oddLength: ("structure.odd-length", .medium)
        case .noFileMeta: ("structure.no-file-meta", .medium)
        case .badMetaEncoding: ("structure.meta-encoding", .high)
        case .unsupportedTransferSyntax: ("structure.bad-transfer-syntax", .medium)
        case .tooManyElements: ("structure.too-many-elements", .high)
        case .fileTooLarge: ("structure.file-too-large", .medium)
        case .inflate: ("structure.deflate", .medium)
        case .badDelimiter: ("structure.bad-delimiter", .medium)
        case .undefinedLength: ("structure.undefined-length", .medium)
        case .source: ("media.io-error", .medium)
        }
        return Finding(code, severity, "not readable as DICOM: \(error)", element: error.tag?.description)
    }

    static func finding(for issue: ParseIssue) -> Finding {
        let (code, severity): (String, Severity) = switch issue.kind {
        case .oddLength: ("structure.odd-length", .low)
        case .noFileMeta: ("structure.no-file-meta", .low)
        case .missingTransferSyntax: ("structure.bad-transfer-syntax", .low)
        case .metaGroupLength: ("structure.group-length", .low)
        case .duplicateTag: ("structure.duplicate-element", .medium)
        case .unknownVR: ("structure.invalid-vr", .low)
        case .implicitUN: ("structure.undefined-length", .info)
        }
        return Finding(code, severity, "\(issue); corrected in the rebuilt file", element: issue.tag?.description)
    }
}
