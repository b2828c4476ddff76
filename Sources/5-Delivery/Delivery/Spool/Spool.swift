import DICOMCore
import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// The durable delivery queue (`STATE/spool`): rebuilt files under `files/`, their state in
/// `spool.sqlite` (WAL). A study is in the spool — synced to disk and indexed — before anyone is
/// told it is safe; the drainer then moves each instance to `stored` or `failed`.
///
/// Crash safety: staging and publishing work like the archive's (write to `incoming`, `syncfs`,
/// rename, index in one transaction). Rows left `sending` by a stopped agent go back to `pending`
/// on open; sending an instance twice is harmless because the PACS keys it by SOP Instance UID.
public final class Spool: Sendable {
    public let directory: URL
    private let database: DatabasePool
    private let incoming: URL
    private let backoff: Backoff

    /// Exponential backoff with jitter between attempts of one instance.
    public struct Backoff: Sendable {
        public var base: Double
        public var maximum: Double

        public init(base: Double = 5, maximum: Double = 3600) {
            self.base = max(0.01, base); self.maximum = max(self.base, maximum)
        }

        /// Full jitter over the upper half: spreads many kiosks' retries after a PACS outage.
        public func delay(afterAttempt attempts: Int) -> Double {
            let ceiling = min(maximum, base * pow(2, Double(max(0, attempts - 1))))
            return ceiling * Double.random(in: 0.5...1.0)
        }
    }

    public init(directory: URL, backoff: Backoff = Backoff()) throws {
        self.directory = directory
        self.backoff = backoff
        incoming = directory.appendingPathComponent("incoming")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("files"), withIntermediateDirectories: true)
        try Staging.clear(incoming)
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        database = try DatabasePool(path: directory.appendingPathComponent("spool.sqlite").path, configuration: configuration)
        try Spool.migrator.migrate(database)
        // An agent stopped while sending: those instances were never acknowledged. Only rows whose
        // claiming process is gone: another live process (the service, a CLI retry) may be sending.
        try database.write { db in
            let claims = try Row.fetchAll(db, sql: "SELECT DISTINCT claimedBy FROM spooled WHERE state = 'sending'")
            for row in claims {
                let pid: Int32? = row["claimedBy"]
                guard pid.map({ kill($0, 0) != 0 && errno == ESRCH }) ?? true else { continue }
                try db.execute(sql: "UPDATE spooled SET state = 'pending', nextAttemptAt = 0 WHERE state = 'sending' AND claimedBy IS ?",
                               arguments: [pid])
            }
        }
    }

    /// Instances not yet acknowledged, read without opening the spool for writing (opening clears
    /// `incoming`, which a running ingest may be filling): for dashboards and metrics.
    public static func unacknowledged(in directory: URL) throws -> Int {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        let database = try DatabaseQueue(path: directory.appendingPathComponent("spool.sqlite").path, configuration: configuration)
        return try database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM spooled WHERE state IN ('pending', 'sending')") ?? 0
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: SpooledInstance.databaseTableName) { t in
                t.column("destination", .text).notNull()
                t.column("sopInstanceUID", .text).notNull()
                t.primaryKey(["destination", "sopInstanceUID"])
                t.column("sopClassUID", .text).notNull()
                t.column("transferSyntaxUID", .text).notNull()
                t.column("studyInstanceUID", .text).notNull()
                t.column("sessionID", .text).notNull().indexed()
                t.column("path", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("sha256", .text).notNull()
                t.column("state", .text).notNull()
                t.column("attempts", .integer).notNull()
                t.column("failureCode", .text)
                t.column("lastError", .text)
                t.column("nextAttemptAt", .double).notNull()
                t.column("createdAt", .double).notNull()
                t.column("updatedAt", .double).notNull()
            }
            try db.create(index: "spooled_due", on: SpooledInstance.databaseTableName, columns: ["destination", "state", "nextAttemptAt"])
        }
        migrator.registerMigration("v2-claimed-by") { db in
            // The process that claimed a row for sending, so recovery leaves live senders alone.
            try db.alter(table: SpooledInstance.databaseTableName) { t in t.add(column: "claimedBy", .integer) }
        }
        migrator.registerMigration("v3-patient-id") { db in
            // The patient, for the ATNA transfer messages written as instances are delivered.
            try db.alter(table: SpooledInstance.databaseTableName) { t in t.add(column: "patientID", .text) }
        }
        return migrator
    }

    // MARK: accepting

    /// The sink that queues admitted instances for `destination`; `held` ones are not sent until
    /// `release(session:destination:)` (a study the operator has not reviewed yet: the screen's "Send").
    public func sink(destination: String, held: Bool = false) -> SpoolSink {
        SpoolSink(spool: self, destination: destination, held: held)
    }

    /// Not due until `release`.
    public static let held = 9e15

    func stage(_ instance: AdmittedInstance, destination: String,
               write: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> StagedInstance {
        guard UID.isUsable(instance.sopInstanceUID) else { throw Archive.ArchiveError.invalidUID(instance.sopInstanceUID, field: "SOP Instance UID") }
        return StagedInstance(instance: instance, bytes: try Staging.write(into: incoming, write),
                              path: "files/\(Spool.folder(for: destination))/\(instance.sopInstanceUID).dcm")
    }

    /// Publishes staged files and queues them in one transaction: `queued`, or `alreadyPresent` /
    /// `conflict` when the destination already acknowledged the UID. A row still waiting from an
    /// earlier session is queued again with this copy.
    func commit(_ staged: [StagedInstance], destination: String, held: Bool) throws -> [SinkOutcome] {
        try Staging.commit(staged, into: directory, fresh: .queued, kept: { files in
            try database.read { db in
                var found: [String: String] = [:]
                for file in files {
                    if let row = try SpooledInstance.fetchOne(db, key: ["destination": destination, "sopInstanceUID": file.instance.sopInstanceUID]),
                       row.state == .stored {
                        found[row.sopInstanceUID] = row.sha256
                    }
                }
                return found
            }
        }, index: { placed in
            let now = Date().timeIntervalSince1970
            try database.write { db in
                for file in placed {
                    var row = SpooledInstance(file, destination: destination)
                    row.state = .pending
                    row.createdAt = now
                    row.updatedAt = now
                    row.nextAttemptAt = held ? Spool.held : 0
                    try row.upsert(db)
                }
            }
        })
    }

    // MARK: draining

    /// Takes up to `limit` due instances for `destination` and marks them `sending`.
    public func claim(destination: String, limit: Int, now: Date = Date()) throws -> [SpooledInstance] {
        try database.write { db in
            let due = try SpooledInstance
                .filter(Column("destination") == destination && Column("state") == SpooledInstance.State.pending.rawValue
                        && Column("nextAttemptAt") <= now.timeIntervalSince1970)
                .order(Column("createdAt"), Column("sopInstanceUID"))
                .limit(limit)
                .fetchAll(db)
            let claimed = due.map { row -> SpooledInstance in
                var row = row
                row.state = .sending
                row.attempts += 1
                row.updatedAt = now.timeIntervalSince1970
                row.claimedBy = getpid()
                return row
            }
            for row in claimed { try row.update(db) }
            return claimed
        }
    }

    /// What a delivery attempt ended in, for one instance.
    public enum Result: Sendable, Equatable {
        case stored(detail: String?)
        case retry(String)
        case failed(code: String, reason: String)
    }

    /// Records attempts' results in one transaction; stored instances' files are removed after.
    public func record(_ results: [(SpooledInstance, Result)], now: Date = Date()) throws {
        guard !results.isEmpty else { return }
        try database.write { db in
            for (instance, result) in results {
                var row = instance
                row.updatedAt = now.timeIntervalSince1970
                switch result {
                case let .stored(detail):
                    row.state = .stored
                    row.lastError = detail
                    row.failureCode = nil
                case let .retry(why):
                    row.state = .pending
                    row.lastError = why
                    row.nextAttemptAt = now.timeIntervalSince1970 + backoff.delay(afterAttempt: row.attempts)
                case let .failed(code, why):
                    row.state = .failed
                    row.failureCode = code
                    row.lastError = why
                }
                try row.update(db)
            }
        }
        for (instance, result) in results {
            if case .stored = result { unlink(directory.appendingPathComponent(instance.path).path) }
        }
    }

    /// The earliest time a pending instance of `destination` is due, if any is pending.
    public func nextDue(destination: String) throws -> Date? {
        try database.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(nextAttemptAt) FROM spooled WHERE destination = ? AND state = 'pending'",
                                arguments: [destination])
        }.map { Date(timeIntervalSince1970: $0) }
    }

    // MARK: listing and operator actions

    public func instances(destination: String? = nil, session: String? = nil, states: [SpooledInstance.State]? = nil) throws -> [SpooledInstance] {
        try database.read { db in
            var request = SpooledInstance.all()
            if let destination { request = request.filter(Column("destination") == destination) }
            if let session { request = request.filter(Column("sessionID") == session) }
            if let states { request = request.filter(states.map(\.rawValue).contains(Column("state"))) }
            return try request.order(Column("createdAt"), Column("sopInstanceUID")).fetchAll(db)
        }
    }

    /// Destinations with instances not yet stored.
    public func destinationsWithWork() throws -> [String] {
        try database.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT destination FROM spooled WHERE state IN ('pending', 'sending', 'failed') ORDER BY destination")
        }
    }

    /// Makes pending instances due now and re-queues failed ones (their files are still here).
    /// Returns how many instances are queued afterwards.
    @discardableResult
    public func retryNow(destination: String? = nil) throws -> Int {
        try database.write { db in
            // Held rows wait for the operator's review ("Send"): a retry must not release them.
            var filter = "(state = 'failed' OR (state = 'pending' AND nextAttemptAt < ?))"
            var arguments: StatementArguments = [Spool.held]
            if let destination { filter += " AND destination = ?"; arguments += [destination] }
            try db.execute(sql: "UPDATE spooled SET state = 'pending', nextAttemptAt = 0, failureCode = NULL WHERE \(filter)",
                           arguments: arguments)
            return db.changesCount
        }
    }

    /// Makes a held session due now (the operator reviewed it and pressed Send).
    public func release(session: String, destination: String) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE spooled SET nextAttemptAt = 0 WHERE sessionID = ? AND destination = ? AND state = 'pending'",
                           arguments: [session, destination])
        }
    }

    /// Takes a session's instances out before they are sent (the operator cancelled at review).
    /// Returns how many were withdrawn; instances already stored stay stored.
    @discardableResult
    public func withdraw(session: String, destination: String) throws -> Int {
        let rows = try instances(destination: destination, session: session, states: [.pending, .failed])
        try database.write { db in
            for row in rows {
                try db.execute(sql: "DELETE FROM spooled WHERE destination = ? AND sopInstanceUID = ? AND state IN ('pending', 'failed')",
                               arguments: [row.destination, row.sopInstanceUID])
            }
        }
        for row in rows { unlink(directory.appendingPathComponent(row.path).path) }
        return rows.count
    }

    /// A short, stable folder name per destination (URLs do not make good paths).
    static func folder(for destination: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325    // FNV-1a: stable across runs, unlike Hasher
        for byte in destination.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}
