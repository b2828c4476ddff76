/// A finding's code, `family.name` (ARCHITECTURE.md §3.3). Scripts, receipts, analytics and ATNA
/// key on these strings, so every module says a code by one of the names below and the compiler
/// catches a misspelt one. The type stays open: a report from a newer build, or a spool row, may
/// carry a code this build does not declare, and it decodes like any other.
///
/// Encoded as its bare string, so the report's JSON is what it was when `code` was a `String`.
public struct FindingCode: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
                           CustomDebugStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    /// For the declarations below only: everywhere else a code is named, not spelt.
    private init(_ rawValue: String) { self.rawValue = rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }
    /// Quoted, as the string was: messages that print a finding read as they did.
    public var debugDescription: String { rawValue.debugDescription }

    /// By the string, as lists of codes were sorted when they were strings.
    public static func < (lhs: FindingCode, rhs: FindingCode) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The part before the first dot: `media`, `dicomdir`, `structure`, …
    public var family: Family { Family(rawValue: String(rawValue.prefix { $0 != "." })) }

    /// A family of codes. Families are the contract; codes may be added inside a family freely.
    public struct Family: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let preamble = Family(rawValue: "preamble")
        public static let structure = Family(rawValue: "structure")
        public static let pixel = Family(rawValue: "pixel")
        public static let malware = Family(rawValue: "malware")
        public static let `private` = Family(rawValue: "private")
        public static let document = Family(rawValue: "document")
        public static let executable = Family(rawValue: "executable")
        public static let autorun = Family(rawValue: "autorun")
        public static let content = Family(rawValue: "content")
        public static let dicomdir = Family(rawValue: "dicomdir")
        public static let media = Family(rawValue: "media")
        public static let identity = Family(rawValue: "identity")
        public static let reconciliation = Family(rawValue: "reconciliation")
        public static let pacs = Family(rawValue: "pacs")
        public static let delivery = Family(rawValue: "delivery")
        public static let quarantine = Family(rawValue: "quarantine")

        /// Every family, in the order README lists them.
        public static let known: [Family] = [
            .preamble, .structure, .pixel, .malware, .private, .document, .executable, .autorun, .content,
            .dicomdir, .media, .identity, .reconciliation, .pacs, .delivery, .quarantine,
        ]
    }

    // MARK: preamble: the 128 bytes before `DICM`

    public static let preambleExecutable = FindingCode("preamble.executable")
    public static let preambleScript = FindingCode("preamble.script")
    public static let preambleTIFF = FindingCode("preamble.tiff")
    public static let preambleNonzero = FindingCode("preamble.nonzero")

    // MARK: structure: the file's encoding, as parsed and as rebuilt

    public static let structureTruncated = FindingCode("structure.truncated")
    public static let structureLengthOverflow = FindingCode("structure.length-overflow")
    public static let structureNestingDepth = FindingCode("structure.nesting-depth")
    public static let structureTooManyElements = FindingCode("structure.too-many-elements")
    public static let structureFileTooLarge = FindingCode("structure.file-too-large")
    public static let structureInvalidVR = FindingCode("structure.invalid-vr")
    public static let structureUnknownVR = FindingCode("structure.unknown-vr")
    public static let structureOddLength = FindingCode("structure.odd-length")
    public static let structureUndefinedLength = FindingCode("structure.undefined-length")
    public static let structureBadDelimiter = FindingCode("structure.bad-delimiter")
    public static let structureDuplicateElement = FindingCode("structure.duplicate-element")
    public static let structureNoFileMeta = FindingCode("structure.no-file-meta")
    public static let structureMetaEncoding = FindingCode("structure.meta-encoding")
    public static let structureGroupLength = FindingCode("structure.group-length")
    public static let structureBadTransferSyntax = FindingCode("structure.bad-transfer-syntax")
    public static let structureDeflate = FindingCode("structure.deflate")
    public static let structureTrailingData = FindingCode("structure.trailing-data")
    public static let structureUIDFormat = FindingCode("structure.uid-format")
    public static let structureInvalidUID = FindingCode("structure.invalid-uid")
    public static let structureRemoved = FindingCode("structure.removed")
    public static let structureRebuildFailed = FindingCode("structure.rebuild-failed")

    // MARK: pixel: pixel data against what the image needs

    public static let pixelLengthMismatch = FindingCode("pixel.length-mismatch")
    public static let pixelExcessData = FindingCode("pixel.excess-data")
    public static let pixelFragmentTable = FindingCode("pixel.fragment-table")
    public static let pixelCodestreamInvalid = FindingCode("pixel.codestream-invalid")
    public static let pixelCodestreamTrailing = FindingCode("pixel.codestream-trailing")

    // MARK: malware: one code per engine, named after it, and the engine that gave no verdict

    /// A match by the engine `name` (`MalwareEngine.name`).
    public static func malware(engine name: String) -> FindingCode { FindingCode("malware." + name) }

    public static let malwareClamAV = FindingCode("malware.clamav")
    public static let malwareClamd = FindingCode("malware.clamd")
    public static let malwareICAP = FindingCode("malware.icap")
    public static let malwareEngineFailure = FindingCode("malware.engine-failure")

    // MARK: private: vendor-private blocks

    public static let privateRemoved = FindingCode("private.removed")
    public static let privateKept = FindingCode("private.kept")

    // MARK: document: encapsulated documents

    public static let documentEmbedded = FindingCode("document.embedded")
    public static let documentTypeMismatch = FindingCode("document.type-mismatch")
    public static let documentExecutable = FindingCode("document.executable")
    public static let documentActiveContent = FindingCode("document.active-content")

    // MARK: executable, autorun, content: programs and what is not DICOM

    public static let executableEmbedded = FindingCode("executable.embedded")
    public static let executableDiscarded = FindingCode("executable.discarded")
    public static let autorunDiscarded = FindingCode("autorun.discarded")
    public static let contentDiscarded = FindingCode("content.discarded")

    // MARK: dicomdir: the medium's index against the medium

    public static let dicomdirAbsent = FindingCode("dicomdir.absent")
    public static let dicomdirUnreadable = FindingCode("dicomdir.unreadable")
    public static let dicomdirLoop = FindingCode("dicomdir.loop")
    public static let dicomdirBadOffset = FindingCode("dicomdir.bad-offset")
    public static let dicomdirPathTraversal = FindingCode("dicomdir.path-traversal")
    public static let dicomdirMissingFile = FindingCode("dicomdir.missing-file")
    public static let dicomdirUnlistedFile = FindingCode("dicomdir.unlisted-file")

    // MARK: media: the medium, its file system, and the helper that reads it

    public static let mediaPathTraversal = FindingCode("media.path-traversal")
    public static let mediaLoop = FindingCode("media.loop")
    public static let mediaCrossLink = FindingCode("media.cross-link")
    public static let mediaLimitExceeded = FindingCode("media.limit-exceeded")
    public static let mediaCorrupt = FindingCode("media.corrupt")
    public static let mediaIOError = FindingCode("media.io-error")
    public static let mediaTruncated = FindingCode("media.truncated")
    public static let mediaUnreadable = FindingCode("media.unreadable")
    public static let mediaLinkIgnored = FindingCode("media.link-ignored")
    public static let mediaProbe = FindingCode("media.probe")
    public static let mediaNoDICOM = FindingCode("media.no-dicom")
    public static let mediaHelperFailed = FindingCode("media.helper-failed")
    public static let mediaHelperCrashed = FindingCode("media.helper-crashed")
    public static let mediaHelperTimeout = FindingCode("media.helper-timeout")
    public static let mediaHelperProtocol = FindingCode("media.helper-protocol")
    public static let mediaSandboxFailed = FindingCode("media.sandbox-failed")

    // MARK: identity: the images' patient against the one at the desk

    public static let identityMatch = FindingCode("identity.match")
    public static let identityMismatch = FindingCode("identity.mismatch")
    public static let identityUnverified = FindingCode("identity.unverified")
    public static let identityMultiplePatients = FindingCode("identity.multiple-patients")
    public static let identityOverride = FindingCode("identity.override")

    // MARK: reconciliation: identifiers set to the hospital's values (IHE IRWF)

    public static let reconciliationCoerced = FindingCode("reconciliation.coerced")
    public static let reconciliationUIDReplaced = FindingCode("reconciliation.uid-replaced")
    public static let reconciliationUnencodable = FindingCode("reconciliation.unencodable")

    // MARK: pacs: what the destination accepts

    public static let pacsUnsupportedSOPClass = FindingCode("pacs.unsupported-sop-class")
    public static let pacsUnsupportedTransferSyntax = FindingCode("pacs.unsupported-transfer-syntax")
    public static let pacsConverted = FindingCode("pacs.converted")

    // MARK: delivery: the archive, the spool and the senders

    public static let deliveryPending = FindingCode("delivery.pending")
    public static let deliveryRefused = FindingCode("delivery.refused")
    public static let deliveryUnreadable = FindingCode("delivery.unreadable")
    public static let deliveryWarning = FindingCode("delivery.warning")
    public static let deliveryDiskFull = FindingCode("delivery.disk-full")
    public static let deliverySpoolError = FindingCode("delivery.spool-error")
    public static let deliveryArchiveError = FindingCode("delivery.archive-error")
    public static let deliveryWriteFailed = FindingCode("delivery.write-failed")
    public static let deliveryUIDConflict = FindingCode("delivery.uid-conflict")
    public static let deliveryAlreadyDelivered = FindingCode("delivery.already-delivered")
    public static let deliveryAlreadyArchived = FindingCode("delivery.already-archived")
    /// The destination takes nothing this large (a portal's tus server answered 413).
    public static let deliveryTooLarge = FindingCode("delivery.too-large")
    /// The portal already holds a different manifest for the session (409): kept aside for an operator.
    public static let deliveryManifestConflict = FindingCode("delivery.manifest-conflict")

    // MARK: quarantine

    public static let quarantineError = FindingCode("quarantine.error")

    /// Every code declared above, family by family: README's list of finding codes is checked
    /// against it (and this file against it), so neither can drift from what the agent writes.
    public static let known: [FindingCode] = [
        .preambleExecutable, .preambleScript, .preambleTIFF, .preambleNonzero,
        .structureTruncated, .structureLengthOverflow, .structureNestingDepth, .structureTooManyElements, .structureFileTooLarge,
        .structureInvalidVR, .structureUnknownVR, .structureOddLength, .structureUndefinedLength, .structureBadDelimiter,
        .structureDuplicateElement, .structureNoFileMeta, .structureMetaEncoding, .structureGroupLength,
        .structureBadTransferSyntax, .structureDeflate, .structureTrailingData, .structureUIDFormat, .structureInvalidUID,
        .structureRemoved, .structureRebuildFailed,
        .pixelLengthMismatch, .pixelExcessData, .pixelFragmentTable, .pixelCodestreamInvalid, .pixelCodestreamTrailing,
        .malwareClamAV, .malwareClamd, .malwareICAP, .malwareEngineFailure,
        .privateRemoved, .privateKept,
        .documentEmbedded, .documentTypeMismatch, .documentExecutable, .documentActiveContent,
        .executableEmbedded, .executableDiscarded, .autorunDiscarded, .contentDiscarded,
        .dicomdirAbsent, .dicomdirUnreadable, .dicomdirLoop, .dicomdirBadOffset, .dicomdirPathTraversal,
        .dicomdirMissingFile, .dicomdirUnlistedFile,
        .mediaPathTraversal, .mediaLoop, .mediaCrossLink, .mediaLimitExceeded, .mediaCorrupt, .mediaIOError, .mediaTruncated,
        .mediaUnreadable, .mediaLinkIgnored, .mediaProbe, .mediaNoDICOM, .mediaHelperFailed, .mediaHelperCrashed,
        .mediaHelperTimeout, .mediaHelperProtocol, .mediaSandboxFailed,
        .identityMatch, .identityMismatch, .identityUnverified, .identityMultiplePatients, .identityOverride,
        .reconciliationCoerced, .reconciliationUIDReplaced, .reconciliationUnencodable,
        .pacsUnsupportedSOPClass, .pacsUnsupportedTransferSyntax, .pacsConverted,
        .deliveryPending, .deliveryRefused, .deliveryUnreadable, .deliveryWarning, .deliveryDiskFull, .deliverySpoolError,
        .deliveryArchiveError, .deliveryWriteFailed, .deliveryUIDConflict, .deliveryAlreadyDelivered, .deliveryAlreadyArchived,
        .deliveryTooLarge, .deliveryManifestConflict,
        .quarantineError,
    ]
}
