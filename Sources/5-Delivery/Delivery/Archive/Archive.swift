import Foundation
import DICOMCore
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The embedded archive: rebuilt Part 10 files under `root/<Study>/<Series>/<SOP>.dcm`, indexed in
/// SQLite (`root/index.sqlite`). One file per SOP Instance UID; storing the same instance again is
/// a no-op, so re-ingesting a disc duplicates nothing.
///
/// Durability: files are written to `root/.incoming`, flushed to disk together (`syncfs`), renamed
/// into place, and only then indexed in one transaction. A crash leaves at worst an unindexed file
/// that the next store of that instance replaces.
public final class Archive: Sendable {
    public let root: URL
    private let database: DatabaseQueue
    private let incoming: URL

    public enum StoreOutcome: Sendable, Equatable {
        /// New instance, now durable and indexed.
        case stored
        /// Already archived with identical content.
        case alreadyPresent
        /// Archived before with different content under the same SOP Instance UID: the archived
        /// copy is kept and the new one is not stored.
        case conflict(existingSHA256: String)
    }

    public enum ArchiveError: Error, CustomStringConvertible {
        case invalidUID(String, field: String)

        public var description: String {
            switch self {
            case let .invalidUID(_, field): "\(field) is not a valid DICOM UID"
            }
        }
    }

    public init(root: URL) throws {
        self.root = root
        incoming = root.appendingPathComponent(".incoming")
        try FileManager.default.createDirectory(at: incoming, withIntermediateDirectories: true)
        database = try DatabaseQueue(path: root.appendingPathComponent("index.sqlite").path)
        try Archive.migrator.migrate(database)
        // Leftovers of an interrupted session were never indexed: drop them.
        try Staging.clear(incoming)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: ArchivedInstance.databaseTableName) { t in
                t.primaryKey("sopInstanceUID", .text)
                t.column("sopClassUID", .text).notNull()
                t.column("studyInstanceUID", .text).notNull().indexed()
                t.column("seriesInstanceUID", .text).notNull()
                t.column("patientID", .text).notNull()
                t.column("patientName", .text).notNull()
                t.column("birthDate", .text).notNull()
                t.column("modality", .text).notNull()
                t.column("studyDate", .text).notNull()
                t.column("studyDescription", .text).notNull()
                t.column("transferSyntaxUID", .text).notNull()
                t.column("path", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("sha256", .text).notNull()
                t.column("sourceSHA256", .text).notNull()
                t.column("sessionID", .text).notNull()
                t.column("storedAt", .double).notNull()
            }
        }
        return migrator
    }

    /// A rebuilt file written to `.incoming`, not yet durable or visible.
    public struct StagedFile: Sendable {
        public let bytes: StagedBytes
        public let instance: ArchivedInstance
        public var temporary: URL { bytes.temporary }
    }

    /// Writes a rebuilt file to the incoming area. Safe to call from several tasks at once.
    /// `write` receives a sink; bytes are written as they come (large pixel data is never held
    /// whole). The instance's `size` and `sha256` are set from the bytes actually written.
    public func stage(_ instance: ArchivedInstance,
                      write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> StagedFile {
        for (field, uid) in [("Study Instance UID", instance.studyInstanceUID),
                             ("Series Instance UID", instance.seriesInstanceUID),
                             ("SOP Instance UID", instance.sopInstanceUID)] where !UID.isUsable(uid) {
            throw ArchiveError.invalidUID(uid, field: field)
        }
        let bytes = try Staging.write(into: incoming, write)
        var placed = instance
        placed.size = bytes.size
        placed.sha256 = bytes.sha256
        placed.path = "\(instance.studyInstanceUID)/\(instance.seriesInstanceUID)/\(instance.sopInstanceUID).dcm"
        return StagedFile(bytes: bytes, instance: placed)
    }

    /// Makes staged files durable, moves them into place and indexes them in one transaction.
    /// Returns one outcome per staged file, in order.
    public func commit(_ staged: [StagedFile]) throws -> [StoreOutcome] {
        guard !staged.isEmpty else { return [] }
        // Decide before touching the tree: a UID already archived is never overwritten.
        let existing: [String: String] = try database.read { db in
            var found: [String: String] = [:]
            for file in staged {
                if let row = try ArchivedInstance.fetchOne(db, key: file.instance.sopInstanceUID) {
                    found[row.sopInstanceUID] = row.sha256
                }
            }
            return found
        }
        var outcomes: [StoreOutcome] = []
        var toPlace: [StagedFile] = []
        var placedUIDs = Set<String>()
        for file in staged {
            let uid = file.instance.sopInstanceUID
            if let sha = existing[uid] {
                outcomes.append(sha == file.instance.sha256 ? .alreadyPresent : .conflict(existingSHA256: sha))
                unlink(file.temporary.path)
            } else if placedUIDs.contains(uid) {
                // The same instance twice on one disc (e.g. copied into two folders).
                let first = toPlace.first { $0.instance.sopInstanceUID == uid }!
                outcomes.append(first.instance.sha256 == file.instance.sha256
                    ? .alreadyPresent : .conflict(existingSHA256: first.instance.sha256))
                unlink(file.temporary.path)
            } else {
                outcomes.append(.stored)
                toPlace.append(file)
                placedUIDs.insert(uid)
            }
        }
        guard !toPlace.isEmpty else { return outcomes }
        try Staging.syncFileSystem(containing: root)
        var directories = Set<String>()
        for file in toPlace {
            let target = root.appendingPathComponent(file.instance.path)
            let directory = target.deletingLastPathComponent()
            if directories.insert(directory.path).inserted {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            guard rename(file.temporary.path, target.path) == 0 else {
                throw StagingError.io("rename into \(file.instance.path)", errno: errno)
            }
        }
        try Staging.syncFileSystem(containing: root)
        let now = Date().timeIntervalSince1970
        try database.write { db in
            for file in toPlace {
                var row = file.instance
                row.storedAt = now
                try row.insert(db)
            }
        }
        return outcomes
    }

    /// Discards staged files that will not be committed.
    public func discard(_ staged: [StagedFile]) {
        for file in staged { unlink(file.temporary.path) }
    }

    /// All archived instances, for listing and tests.
    public func instances() throws -> [ArchivedInstance] {
        try database.read { db in try ArchivedInstance.order(Column("sopInstanceUID")).fetchAll(db) }
    }

    public func instance(_ sopInstanceUID: String) throws -> ArchivedInstance? {
        try database.read { db in try ArchivedInstance.fetchOne(db, key: sopInstanceUID) }
    }
}
