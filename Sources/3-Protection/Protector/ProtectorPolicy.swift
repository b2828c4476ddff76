import DICOMCore

/// What the Protector accepts and how it rebuilds. A value passed in, never global state; every
/// default is the safe choice (issue 3, part 4).
public struct ProtectorPolicy: Sendable, Codable {
    /// What to do with a kind of optional content: keep it (after its checks), leave it out of the
    /// rebuilt file, or reject any file that has it.
    public enum ContentRule: String, Sendable, CaseIterable, Codable {
        case keep, drop, reject
    }

    /// Bounds for parsing each file (depth, element count, lengths).
    public var parsing: ParsingOptions
    /// A TIFF header in the preamble is legitimate (PS3.10 §7.1 dual-format files); it is still
    /// zeroed on rebuild, but reported as `info` instead of `medium`.
    public var allowTIFFPreamble = true
    /// Private blocks whose creator is listed are kept; all others are removed (THREATS.md 3).
    public var keptPrivateCreators: Set<String> = []
    /// Icon Image Sequence (0088,0200): a second image and a second decoder (THREATS.md 5).
    public var icons = ContentRule.drop
    /// Overlay planes (60xx): clinically meaningful annotations, kept after their size check.
    public var overlays = ContentRule.keep
    /// Encapsulated documents (0042,0011): kept after type checks and scanning. `drop` rejects files
    /// of the encapsulated-document storage classes, which are nothing without their document.
    public var documents = ContentRule.keep
    /// What becomes of a file whose encapsulated document (PDF, CDA/XML) holds active content —
    /// scripts, automatic actions, launched programs, embedded files, external references — that no
    /// rebuild can take out safely (see `ActiveContent`).
    public enum ActiveDocumentRule: String, Sendable, CaseIterable, Codable {
        /// Not delivered; the original is kept in quarantine as a threat (verdict `rejected`).
        case reject
        /// Not delivered and not quarantined: the instance is left out as a policy choice (verdict
        /// `discarded`), the finding says why. A document smuggled into an image is removed either way.
        case drop
    }

    public var activeDocuments = ActiveDocumentRule.reject
    /// Transfer syntaxes accepted at all; nil = every syntax the standard defines.
    public var acceptedTransferSyntaxes: Set<String>?
    /// What the destination accepts; nil = anything the Protector delivers.
    public var compatibility: Compatibility?
    /// Import reconciliation: the hospital's identifiers to coerce to; nil = off.
    public var reconciliation: Reconciliation?
    /// What to do with a Study, Series or SOP Instance UID that is missing or cannot be encoded
    /// (empty, over 64 characters, not digits and dots).
    public enum UIDRule: String, Sendable, CaseIterable, Codable {
        /// IHE IRWF: a derived `2.25.` UID, the same for every file of the study and on every read
        /// (`UIDRepair`); the absence or the old value kept in Original Attributes Sequence.
        case repair
        /// The file is not delivered (`structure.invalid-uid`).
        case reject
    }
    public var missingUIDs = UIDRule.repair
    /// Identity written into every rebuilt file's meta group.
    public var implementationClassUID: String
    public var implementationVersionName: String

    public init(parsing: ParsingOptions = ParsingOptions(), implementationClassUID: String,
                implementationVersionName: String) {
        self.parsing = parsing
        self.implementationClassUID = implementationClassUID
        self.implementationVersionName = implementationVersionName
    }
}

/// The SOP classes and transfer syntaxes a destination (the hospital PACS) accepts (issue 3, part 7).
public struct Compatibility: Sendable, Equatable, Codable {
    /// nil = every SOP class.
    public var sopClasses: Set<String>?
    /// nil = every transfer syntax.
    public var transferSyntaxes: Set<String>?
    /// The destination refuses UIDs with a zero-led component (`1.2.03.4`): they are repaired
    /// like unusable ones instead of delivered unchanged.
    public var strictUIDs = false

    public init(sopClasses: Set<String>? = nil, transferSyntaxes: Set<String>? = nil) {
        self.sopClasses = sopClasses; self.transferSyntaxes = transferSyntaxes
    }
}
