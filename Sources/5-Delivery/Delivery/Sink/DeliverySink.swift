import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where admitted instances become durable: the embedded archive, or the spool that holds them for
/// a network destination. Both write a rebuilt file as it is produced (`stage`), then publish a
/// batch at once (`commit`): one `syncfs`, renames into place, one index transaction.
public protocol DeliverySink: Sendable {
    /// The directory whose file system must have room for a disc.
    var root: URL { get }
    /// Writes a rebuilt file to the sink's incoming area; safe from several threads at once.
    /// `write` receives a sink for the bytes as they are produced (large pixel data is never held
    /// whole); size and SHA-256 are those of the bytes actually written.
    func stage(_ instance: AdmittedInstance, write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> StagedInstance
    /// Makes a batch durable and visible; one outcome per staged file, in order.
    func commit(_ staged: [StagedInstance]) throws -> [SinkOutcome]
}

extension DeliverySink {
    /// Discards staged files that will not be committed.
    public func discard(_ staged: [StagedInstance]) {
        for file in staged { unlink(file.bytes.temporary.path) }
    }
}

/// What became of one staged file when its batch was committed.
public enum SinkOutcome: Sendable, Equatable {
    /// New, now durable and indexed in the archive.
    case stored
    /// Durable in the spool, waiting for the destination.
    case queued
    /// The archive, or the destination, already has it with identical content.
    case alreadyPresent
    /// Another file with this SOP Instance UID is already there (or earlier in the batch): that one
    /// is kept and this one is not stored or sent.
    case conflict(existingSHA256: String)
}

/// The facts of an admitted instance that every sink indexes.
public struct AdmittedInstance: Sendable, Equatable {
    public var sopInstanceUID: String
    public var sopClassUID: String
    public var transferSyntaxUID: String
    public var studyInstanceUID: String
    public var seriesInstanceUID: String
    public var patientID: String
    public var patientName: String
    public var birthDate: String
    public var modality: String
    public var studyDate: String
    public var studyDescription: String
    /// SHA-256 of the original file as read from the media.
    public var sourceSHA256: String
    public var sessionID: String
    /// The file's path on the medium, relative and already checked (no `..`): where a
    /// `DirectorySink` writes it. The archive and the spool place files by UID instead.
    public var mediaPath = ""

    public init(sopInstanceUID: String, sopClassUID: String, transferSyntaxUID: String, studyInstanceUID: String,
                seriesInstanceUID: String, patientID: String = "", patientName: String = "", birthDate: String = "",
                modality: String = "", studyDate: String = "", studyDescription: String = "", sourceSHA256: String = "",
                sessionID: String) {
        self.sopInstanceUID = sopInstanceUID; self.sopClassUID = sopClassUID; self.transferSyntaxUID = transferSyntaxUID
        self.studyInstanceUID = studyInstanceUID; self.seriesInstanceUID = seriesInstanceUID; self.patientID = patientID
        self.patientName = patientName; self.birthDate = birthDate; self.modality = modality; self.studyDate = studyDate
        self.studyDescription = studyDescription; self.sourceSHA256 = sourceSHA256; self.sessionID = sessionID
    }
}

/// A rebuilt file in a sink's incoming area, not yet durable or visible.
public struct StagedInstance: Sendable {
    public let instance: AdmittedInstance
    public let bytes: StagedBytes
    /// Where `commit` places it, relative to the sink's root.
    public let path: String
}

extension Staging {
    /// The commit both sinks share. Each file is decided before the tree is touched: when `kept`
    /// names a copy already there (its SHA-256), the file is `alreadyPresent` or a `conflict`; the
    /// same UID twice in one batch (a disc with the instance in two folders) keeps the first copy,
    /// and an identical second copy shares its outcome. The new files are made durable with one
    /// `syncfs`, renamed into place and synced again, and only then handed to `index`.
    static func commit(_ staged: [StagedInstance], into root: URL, fresh: SinkOutcome,
                       kept: ([StagedInstance]) throws -> [String: String],
                       index: ([StagedInstance]) throws -> Void) throws -> [SinkOutcome] {
        guard !staged.isEmpty else { return [] }
        let existing = try kept(staged)
        var outcomes: [SinkOutcome] = []
        var toPlace: [StagedInstance] = []
        var placed: [String: Int] = [:]
        for file in staged {
            let uid = file.instance.sopInstanceUID
            if let sha = existing[uid] {
                outcomes.append(sha == file.bytes.sha256 ? .alreadyPresent : .conflict(existingSHA256: sha))
                unlink(file.bytes.temporary.path)
            } else if let earlier = placed[uid] {
                let first = toPlace[earlier].bytes.sha256
                outcomes.append(first == file.bytes.sha256 ? (fresh == .stored ? .alreadyPresent : fresh) : .conflict(existingSHA256: first))
                unlink(file.bytes.temporary.path)
            } else {
                outcomes.append(fresh)
                placed[uid] = toPlace.count
                toPlace.append(file)
            }
        }
        guard !toPlace.isEmpty else { return outcomes }
        try syncFileSystem(containing: root)
        var directories = Set<String>()
        for file in toPlace {
            let target = root.appendingPathComponent(file.path)
            let directory = target.deletingLastPathComponent()
            if directories.insert(directory.path).inserted {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            guard rename(file.bytes.temporary.path, target.path) == 0 else {
                throw StagingError.io("rename into \(file.path)", errno: errno)
            }
        }
        try syncFileSystem(containing: root)
        try index(toPlace)
        return outcomes
    }
}
