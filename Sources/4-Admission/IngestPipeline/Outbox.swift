import Delivery
import Foundation
import Protector

/// Where a session's rebuilt files go: straight into the embedded archive, or into the durable
/// spool for a network destination (the drainer sends them from there).
public enum Outbox: Sendable {
    case archive(Archive)
    /// `held`: not sent until the operator has reviewed the study.
    case spool(Spool, destination: String, held: Bool = false)

    public enum Staged: Sendable {
        case archive(Archive.StagedFile)
        case spool(Spool.StagedFile)
    }

    public enum Outcome: Equatable {
        /// In the archive.
        case stored
        /// The archive, or the destination, already has it with identical content.
        case alreadyPresent
        /// Another file with this SOP Instance UID is already there; it was kept.
        case conflict
        /// Durable in the spool, waiting for the destination.
        case queued
    }

    /// The directory whose file system must have room for a disc.
    public var root: URL {
        switch self {
        case let .archive(archive): archive.root
        case let .spool(spool, _, _): spool.directory
        }
    }

    public func stage(_ summary: InstanceSummary, sourceSHA256: String, sessionID: String,
               write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> Staged {
        switch self {
        case let .archive(archive):
            return .archive(try archive.stage(ArchivedInstance(summary, sourceSHA256: sourceSHA256, sessionID: sessionID), write: write))
        case let .spool(spool, destination, _):
            var row = SpooledInstance(destination: destination, sopInstanceUID: summary.sopInstanceUID, sopClassUID: summary.sopClassUID,
                                      transferSyntaxUID: summary.transferSyntaxUID, studyInstanceUID: summary.studyInstanceUID,
                                      sessionID: sessionID)
            row.patientID = summary.patientID
            return .spool(try spool.stage(row, write: write))
        }
    }

    /// Makes a batch durable; one outcome per staged file, in order.
    public func commit(_ staged: [Staged]) throws -> [Outcome] {
        switch self {
        case let .archive(archive):
            return try archive.commit(staged.compactMap { if case let .archive(file) = $0 { file } else { nil } }).map { outcome in
                switch outcome {
                case .stored: .stored
                case .alreadyPresent: .alreadyPresent
                case .conflict: .conflict
                }
            }
        case let .spool(spool, _, held):
            return try spool.commit(staged.compactMap { if case let .spool(file) = $0 { file } else { nil } }, held: held).map { outcome in
                switch outcome {
                case .queued: .queued
                case .alreadyStored: .alreadyPresent
                case .conflict: .conflict
                }
            }
        }
    }

    public func discard(_ staged: [Staged]) {
        for file in staged {
            switch (self, file) {
            case let (.archive(archive), .archive(file)): archive.discard([file])
            case let (.spool(spool, _, _), .spool(file)): spool.discard([file])
            default: break
            }
        }
    }
}
