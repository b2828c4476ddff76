import DICOMCore
import SessionReport

/// `structure.*` findings (ARCHITECTURE.md §3.3) for what the codec refused or tolerated.
enum StructureFindings {
    static func finding(for error: DICOMParseError) -> Finding {
        let (code, severity): (FindingCode, Severity) = switch error.kind {
        case .truncated: (.structureTruncated, .medium)
        case .lengthOverflow: (.structureLengthOverflow, .high)
        case .nestingTooDeep: (.structureNestingDepth, .high)
        case .invalidVR: (.structureInvalidVR, .medium)
        case .oddLength: (.structureOddLength, .medium)
        case .noFileMeta: (.structureNoFileMeta, .medium)
        case .badMetaEncoding: (.structureMetaEncoding, .high)
        case .unsupportedTransferSyntax: (.structureBadTransferSyntax, .medium)
        case .tooManyElements: (.structureTooManyElements, .high)
        case .fileTooLarge: (.structureFileTooLarge, .medium)
        case .inflate: (.structureDeflate, .medium)
        case .badDelimiter: (.structureBadDelimiter, .medium)
        case .undefinedLength: (.structureUndefinedLength, .medium)
        case .source: (.mediaIOError, .medium)
        }
        return Finding(code, severity, "not readable as DICOM: \(error)", element: error.tag?.description)
    }

    static func finding(for issue: ParseIssue) -> Finding {
        let (code, severity): (FindingCode, Severity) = switch issue.kind {
        case .oddLength: (.structureOddLength, .low)
        case .noFileMeta: (.structureNoFileMeta, .low)
        case .missingTransferSyntax: (.structureBadTransferSyntax, .low)
        case .metaGroupLength: (.structureGroupLength, .low)
        case .duplicateTag: (.structureDuplicateElement, .medium)
        case .unknownVR: (.structureInvalidVR, .low)
        case .implicitUN: (.structureUndefinedLength, .info)
        }
        return Finding(code, severity, "\(issue); corrected in the rebuilt file", element: issue.tag?.description)
    }
}
