/// The session report, schema `kiosk-agent.report/1` (ARCHITECTURE.md §3.2). Field names are a
/// contract for scripts and tests: add fields, never rename or remove them.
public struct Report: Codable, Sendable {
    public static let schemaName = "kiosk-agent.report/1"

    public var schema: String = Report.schemaName
    public var source: Source
    public var expectedPatient: ExpectedPatient?
    public var media: Media = Media()
    public var files: [FileRecord] = []
    public var studies: [Study] = []
    public var totals: Totals = Totals()
    /// Where the delivered instances went (`archive:/…`). Additive to the contract.
    public var destination: String?
    /// The reason staff gave to deliver studies whose patient does not match (`--override-identity`);
    /// nil when there was no override. Additive to the contract.
    public var identityOverride: String?
    /// The session: its ID, when it started and ended (ISO 8601, UTC), and the receipt's lookup code,
    /// which carries no patient data. Additive to the contract.
    public var sessionID: String?
    public var startedAt: String?
    public var finishedAt: String?
    public var lookupCode: String?

    public init(source: Source, expectedPatient: ExpectedPatient? = nil) {
        self.source = source; self.expectedPatient = expectedPatient
    }

    public struct Source: Codable, Sendable {
        public var path: String
        public var filesystem: String
        public var label: String
        public init(path: String, filesystem: String, label: String) {
            self.path = path; self.filesystem = filesystem; self.label = label
        }
    }

    public struct ExpectedPatient: Codable, Sendable {
        public var id: String?
        public var name: String?
        public var birthDate: String?
        public init(id: String?, name: String?, birthDate: String?) { self.id = id; self.name = name; self.birthDate = birthDate }
    }

    public struct Media: Codable, Sendable {
        public var findings: [Finding] = []
        public init() {}
    }

    public struct Totals: Codable, Sendable, Equatable {
        public var files = 0, dicom = 0, clean = 0, disarmed = 0, rejected = 0, discarded = 0, delivered = 0
        /// Of the disarmed files, those that lost only routine clean-up (vendor-private data, padding,
        /// icons or overlays by policy, a TIFF preamble; see `RoutineRemoval`). Additive to the contract;
        /// nil in reports written before it.
        public var routineCleanup: Int?
        public init() {}
    }
}

public enum FileKind: String, Codable, Sendable {
    case dicom, dicomdir, executable, autorun, web, document, other
}

public enum Verdict: String, Codable, Sendable {
    /// Delivered with nothing removed.
    case clean
    /// Delivered after something was removed or neutralised (the findings say what).
    case disarmed
    /// DICOM not delivered, kept in quarantine.
    case rejected
    /// Not DICOM, not imported.
    case discarded
}

public enum DeliveryState: String, Codable, Sendable {
    case stored, spooled, failed, none
}

public struct FileRecord: Codable, Sendable {
    public var path: String
    public var size: Int64
    public var sha256: String?
    public var kind: FileKind
    public var verdict: Verdict
    public var findings: [Finding]
    public var sopInstanceUID: String?
    public var studyInstanceUID: String?
    public var delivery: DeliveryState
    /// The per-part verdict map (which part, which checks and engines, what was done). Additive
    /// to the contract: `inspect` always fills it; `ingest` lists the parts that were not kept.
    public var parts: [PartRecord]?
    /// The path as the medium names it (printable: `\\`, `\n`, `\xNN` escapes) when a name on it
    /// was unsafe and `path` is the stand-in it was imported under; nil otherwise. Additive to
    /// the contract.
    public var originalPath: String?

    public init(path: String, size: Int64, sha256: String? = nil, kind: FileKind, verdict: Verdict,
                findings: [Finding] = [], sopInstanceUID: String? = nil, studyInstanceUID: String? = nil,
                delivery: DeliveryState = .none) {
        self.path = path; self.size = size; self.sha256 = sha256; self.kind = kind; self.verdict = verdict
        self.findings = findings; self.sopInstanceUID = sopInstanceUID; self.studyInstanceUID = studyInstanceUID
        self.delivery = delivery
    }
}

/// One part of a DICOM file in the per-part verdict map.
public struct PartRecord: Codable, Sendable, Hashable {
    /// `preamble`, `file meta`, `element`, `private block "CREATOR"`, `frame 1`, `fragment 2`, …
    public var part: String
    /// Where it lies: the element path, e.g. `(0088,0200)[0](7FE0,0010)`.
    public var location: String
    public var size: Int64
    /// What looked at it: `structure`, `signatures`, `pixel`, `document`, and each engine's name.
    public var checks: [String]
    public var action: PartAction
    /// Codes of the findings about this part.
    public var findings: [FindingCode]

    public init(part: String, location: String, size: Int64, checks: [String], action: PartAction, findings: [FindingCode]) {
        self.part = part; self.location = location; self.size = size; self.checks = checks; self.action = action
        self.findings = findings
    }
}

/// What the rebuild did with one part.
public enum PartAction: String, Codable, Sendable {
    /// Copied into the rebuilt file unchanged.
    case kept
    /// Left out of the rebuilt file.
    case removed
    /// Cut short (bytes past what the image needs).
    case truncated
    /// Replaced by zeros or an empty value (the preamble, an offset table).
    case replaced
    /// The reason the whole file was rejected.
    case rejected
}

public enum IdentityResult: String, Codable, Sendable {
    case match, mismatch, unverified
}

public struct Study: Codable, Sendable {
    public var studyInstanceUID: String
    public var patientName: String
    public var patientID: String
    public var birthDate: String
    public var description: String
    public var modalities: [String]
    public var instances: Int
    public var identity: IdentityResult
    /// Series in the study. Additive to the contract.
    public var series: Int
    /// How well the study's patient matches the one at the desk (0–100), and why, when one was given.
    /// Additive to the contract.
    public var identityScore: Int?
    public var identityReasons: [String]?
    /// Instances per SOP Class UID, the sending facilities (Institution Name), the transfer syntaxes
    /// as found on the media, and the study date. Additive to the contract.
    public var sopClasses: [String: Int]?
    public var institutions: [String]?
    public var transferSyntaxes: [String]?
    public var studyDate: String?
    /// The patient as the media's headers had it, before any reconciliation to the hospital's identifiers (which
    /// `patientName` and `patientID` show once coerced): what a reviewer compares with the expected patient.
    /// Additive to the contract; nil in reports written before it.
    public var mediaPatient: MediaPatient?

    public struct MediaPatient: Codable, Sendable, Equatable {
        public var name: String
        public var id: String
        public var issuer: String
        public var birthDate: String
        public var sex: String
        public init(name: String, id: String, issuer: String, birthDate: String, sex: String) {
            self.name = name; self.id = id; self.issuer = issuer; self.birthDate = birthDate; self.sex = sex
        }
    }

    public init(studyInstanceUID: String, patientName: String, patientID: String, birthDate: String,
                description: String, modalities: [String], instances: Int, identity: IdentityResult, series: Int) {
        self.studyInstanceUID = studyInstanceUID; self.patientName = patientName; self.patientID = patientID
        self.birthDate = birthDate; self.description = description; self.modalities = modalities
        self.instances = instances; self.identity = identity; self.series = series
    }
}
