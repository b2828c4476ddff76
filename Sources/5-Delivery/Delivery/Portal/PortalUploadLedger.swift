import Foundation
import GRDB

/// The tus upload URL of each instance on its way to a portal, beside the spool (`portal-uploads.sqlite`), so an
/// attempt after a cut (connection reset, agent killed) asks the server where the upload stands instead of creating
/// a second one. A sidecar database rather than a table in `spool.sqlite`: the target is handed the spool's
/// directory, not the spool, and this file may be deleted at any time at the cost of re-sending bytes.
///
/// SQLite's rollback journal with `synchronous = FULL` (GRDB's default for a queue): a URL is on disk before the
/// first byte is sent to it.
final class PortalUploadLedger: Sendable {
    static let fileName = "portal-uploads.sqlite"
    /// Entries stay after their upload completed: an agent killed before the spool recorded `stored` then finds
    /// the finished upload with HEAD instead of sending it again. Unfinished tus uploads expire on the server
    /// within a day, so a week-old URL is not worth a HEAD.
    static let retention: TimeInterval = 7 * 86_400

    struct Entry: Equatable {
        var url: String
        /// What the upload was created for: a different copy of the instance (same UID, other bytes) starts afresh.
        var sha256: String
        var size: Int64
    }

    private let database: DatabaseQueue

    init(spoolDirectory: URL, now: Date = Date()) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        database = try DatabaseQueue(path: spoolDirectory.appendingPathComponent(Self.fileName).path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "upload") { t in
                t.column("destination", .text).notNull()
                t.column("sopInstanceUID", .text).notNull()
                t.primaryKey(["destination", "sopInstanceUID"])
                t.column("url", .text).notNull()
                t.column("sha256", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("createdAt", .double).notNull()
            }
        }
        try migrator.migrate(database)
        try database.write { db in
            try db.execute(sql: "DELETE FROM upload WHERE createdAt < ?", arguments: [now.timeIntervalSince1970 - Self.retention])
        }
    }

    func entry(destination: String, sopInstanceUID: String) throws -> Entry? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT url, sha256, size FROM upload WHERE destination = ? AND sopInstanceUID = ?",
                             arguments: [destination, sopInstanceUID])
                .map { Entry(url: $0["url"], sha256: $0["sha256"], size: $0["size"]) }
        }
    }

    func remember(_ entry: Entry, destination: String, sopInstanceUID: String, now: Date = Date()) throws {
        try database.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO upload (destination, sopInstanceUID, url, sha256, size, createdAt) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [destination, sopInstanceUID, entry.url, entry.sha256, entry.size, now.timeIntervalSince1970])
        }
    }

    func forget(destination: String, sopInstanceUID: String) throws {
        try database.write { db in
            try db.execute(sql: "DELETE FROM upload WHERE destination = ? AND sopInstanceUID = ?", arguments: [destination, sopInstanceUID])
        }
    }

    /// Every remembered upload of `destination`, for tests and `spool list`-style tools.
    func entries(destination: String) throws -> [String: Entry] {
        try database.read { db in
            var found: [String: Entry] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT sopInstanceUID, url, sha256, size FROM upload WHERE destination = ?",
                                        arguments: [destination]) {
                found[row["sopInstanceUID"]] = Entry(url: row["url"], sha256: row["sha256"], size: row["size"])
            }
            return found
        }
    }
}
