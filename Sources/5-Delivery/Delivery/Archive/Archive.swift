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
public final class Archive: DeliverySink {
    public let root: URL
    private let database: DatabaseQueue
    private let incoming: URL

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

    /// Checks the UIDs that become path components, then writes the rebuilt file to `.incoming`.
    public func stage(_ instance: AdmittedInstance,
                      write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> StagedInstance {
        for (field, uid) in [("Study Instance UID", instance.studyInstanceUID),
                             ("Series Instance UID", instance.seriesInstanceUID),
                             ("SOP Instance UID", instance.sopInstanceUID)] where !UID.isUsable(uid) {
            throw ArchiveError.invalidUID(uid, field: field)
        }
        return StagedInstance(instance: instance, bytes: try Staging.write(into: incoming, write),
                              path: "\(instance.studyInstanceUID)/\(instance.seriesInstanceUID)/\(instance.sopInstanceUID).dcm")
    }

    /// Publishes staged files and indexes them in one transaction: `stored`, or `alreadyPresent` /
    /// `conflict` against what is archived (a UID already archived is never overwritten).
    public func commit(_ staged: [StagedInstance]) throws -> [SinkOutcome] {
        try Staging.commit(staged, into: root, fresh: .stored, kept: { files in
            try database.read { db in
                var found: [String: String] = [:]
                for file in files {
                    if let row = try ArchivedInstance.fetchOne(db, key: file.instance.sopInstanceUID) { found[row.sopInstanceUID] = row.sha256 }
                }
                return found
            }
        }, index: { placed in
            let now = Date().timeIntervalSince1970
            try database.write { db in
                for file in placed { try ArchivedInstance(file, storedAt: now).insert(db) }
            }
        })
    }

    /// All archived instances, for listing and tests.
    public func instances() throws -> [ArchivedInstance] {
        try database.read { db in try ArchivedInstance.order(Column("sopInstanceUID")).fetchAll(db) }
    }

    public func instance(_ sopInstanceUID: String) throws -> ArchivedInstance? {
        try database.read { db in try ArchivedInstance.fetchOne(db, key: sopInstanceUID) }
    }
}
