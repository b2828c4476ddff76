import Crypto
import Foundation
import GRDB
import Uploads

/// One disc a patient sends: its uploads, what the patient said about it, and the hospital's answer.
public struct EdgeBatch: Sendable, Equatable {
    public enum State: String, Sendable, Codable { case open, submitted, received, delivered, held, failed }
    public let id: UUID
    public let patient: String
    public var state: State
    public let label: String?
    public let createdAt: Date
    public var submittedAt: Date?
    /// The browser's summary at submission (JSON as sent).
    public var summary: String?
    /// Core's result object (JSON as pushed).
    public var result: String?
    public var files: Int
    public var bytes: Int64
}

/// A batch's upload as the link lists it.
public struct EdgeUpload: Sendable, Equatable {
    public let id: UploadID
    public let name: String
    public let length: Int64
    public let offset: Int64
    public let sha256: String?
}

/// What a patient may have open at once.
public struct UploadQuota: Sendable, Equatable {
    public var maxBytes: Int64
    public var maxFiles: Int
    public var maxOpenUploads: Int
    public init(maxBytes: Int64 = 8 << 30, maxFiles: Int = 20_000, maxOpenUploads: Int = 64) {
        self.maxBytes = maxBytes; self.maxFiles = maxFiles; self.maxOpenUploads = maxOpenUploads
    }
}

extension EdgeStore {
    static let batchColumns = """
        b.id, b.patient, b.state, b.label, b.created_at, b.submitted_at, b.summary, b.result,
        (SELECT count(*) FROM uploads u WHERE u.batch = b.id) AS files,
        (SELECT coalesce(sum(u.length), 0) FROM uploads u WHERE u.batch = b.id) AS bytes
        """

    static func batch(_ row: Row) -> EdgeBatch? {
        guard let id = UUID(uuidString: row["id"]), let state = EdgeBatch.State(rawValue: row["state"]) else { return nil }
        return EdgeBatch(id: id, patient: row["patient"], state: state, label: row["label"], createdAt: Date(stored: row["created_at"]),
                         submittedAt: (row["submitted_at"] as Double?).map(Date.init(stored:)), summary: row["summary"],
                         result: row["result"], files: row["files"], bytes: row["bytes"])
    }

    func createBatch(patient: String, label: String?, now: Date) async throws -> EdgeBatch {
        let id = UUID()
        let key = try seal(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO batches (id, patient, state, label, staging_key, created_at) VALUES (?, ?, 'open', ?, ?, ?)",
                           arguments: [id.uuidString.lowercased(), patient, label, key, now.stored])
        }
        return EdgeBatch(id: id, patient: patient, state: .open, label: label, createdAt: now, files: 0, bytes: 0)
    }

    public func batch(_ id: UUID) async throws -> EdgeBatch? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.batchColumns) FROM batches b WHERE b.id = ?", arguments: [id.uuidString.lowercased()])
                .flatMap(Self.batch)
        }
    }

    func batches(patient: String, limit: Int = 200) async throws -> [EdgeBatch] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.batchColumns) FROM batches b WHERE b.patient = ? ORDER BY b.created_at DESC LIMIT ?",
                             arguments: [patient, limit]).compactMap(Self.batch)
        }
    }

    public func batches(state: EdgeBatch.State) async throws -> [EdgeBatch] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.batchColumns) FROM batches b WHERE b.state = ? ORDER BY b.submitted_at, b.created_at",
                             arguments: [state.rawValue]).compactMap(Self.batch)
        }
    }

    public func uploads(batch: UUID) async throws -> [EdgeUpload] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, length, \"offset\", sha256 FROM uploads WHERE batch = ? ORDER BY created_at, id",
                             arguments: [batch.uuidString.lowercased()]).compactMap { row in
                UploadID(row["id"]).map { EdgeUpload(id: $0, name: row["name"], length: row["length"], offset: row["offset"], sha256: row["sha256"]) }
            }
        }
    }

    /// An upload of this owner in this batch, with this name and length, that no byte has reached yet and that has not
    /// expired: one whose creation the browser never heard back from (the page was closed or the connection dropped while
    /// it was under way). With no byte written, answering it instead of a new one risks nothing; left alone, it would keep
    /// the batch incomplete for ever.
    func emptyUpload(owner: String, batch: String, name: String, length: Int64, now: Date) async throws -> UploadID? {
        try await pool.read { db in
            try String.fetchOne(db, sql: """
                SELECT id FROM uploads
                WHERE batch = ? AND owner = ? AND name = ? AND length = ? AND "offset" = 0 AND expires_at > ?
                ORDER BY created_at, id LIMIT 1
                """, arguments: [batch, owner, name, length, now.stored]).flatMap { UploadID($0) }
        }
    }

    /// One upload of a batch: what the link's download of it needs, without reading the batch's other uploads.
    func upload(_ id: UploadID, batch: UUID) async throws -> EdgeUpload? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, name, length, \"offset\", sha256 FROM uploads WHERE id = ? AND batch = ?",
                             arguments: [id.rawValue, batch.uuidString.lowercased()]).map { row in
                EdgeUpload(id: id, name: row["name"], length: row["length"], offset: row["offset"], sha256: row["sha256"])
            }
        }
    }

    func stagingKey(batch: String) async throws -> SymmetricKey {
        let sealed = try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT staging_key FROM batches WHERE id = ?", arguments: [batch])
        }
        guard let sealed else { throw UploadRefusal(status: .notFound, reason: "no such batch") }
        return SymmetricKey(data: try open(sealed))
    }

    /// Checks a new upload against the batch and the patient's quota, in one read.
    func admitUpload(patient: String, batch: String, length: Int64, quota: UploadQuota) async throws -> QuotaCheck {
        try await pool.read { db in
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM batches WHERE id = ? AND patient = ?", arguments: [batch, patient]) else {
                return .noBatch
            }
            guard state == EdgeBatch.State.open.rawValue else { return .closed }
            let row = try Row.fetchOne(db, sql: """
                SELECT count(*) AS files, coalesce(sum(u.length), 0) AS bytes,
                       coalesce(sum(CASE WHEN u."offset" < u.length THEN 1 ELSE 0 END), 0) AS unfinished
                FROM uploads u JOIN batches b ON b.id = u.batch
                WHERE b.patient = ? AND b.state IN ('open', 'submitted')
                """, arguments: [patient])
            let files: Int = row?["files"] ?? 0, bytes: Int64 = row?["bytes"] ?? 0, unfinished: Int = row?["unfinished"] ?? 0
            if files + 1 > quota.maxFiles { return .files }
            if bytes + length > quota.maxBytes { return .bytes }
            if unfinished + 1 > quota.maxOpenUploads { return .openUploads }
            return .admitted
        }
    }

    enum QuotaCheck { case admitted, noBatch, closed, files, bytes, openUploads }

    func setUploadDigest(_ id: UploadID, sha256: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE uploads SET sha256 = ? WHERE id = ?", arguments: [sha256, id.rawValue])
        }
    }

    /// Submits an open batch whose every upload is complete and digested. Returns the refusal, or nil when submitted.
    func submit(batch: UUID, patient: String, summary: String, now: Date) async throws -> SubmitRefusal? {
        try await pool.write { db in
            let id = batch.uuidString.lowercased()
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM batches WHERE id = ? AND patient = ?", arguments: [id, patient]) else {
                return .notFound
            }
            guard state == EdgeBatch.State.open.rawValue else { return .closed }
            let counts = try Row.fetchOne(db, sql: """
                SELECT count(*) AS files, coalesce(sum(CASE WHEN "offset" = length AND sha256 IS NOT NULL THEN 1 ELSE 0 END), 0) AS done
                FROM uploads WHERE batch = ?
                """, arguments: [id])
            let files: Int = counts?["files"] ?? 0, done: Int = counts?["done"] ?? 0
            guard files > 0 else { return .empty }
            guard done == files else { return .incomplete }
            try db.execute(sql: "UPDATE batches SET state = 'submitted', summary = ?, submitted_at = ? WHERE id = ?",
                           arguments: [summary, now.stored, id])
            return nil
        }
    }

    enum SubmitRefusal { case notFound, closed, empty, incomplete }

    /// Removes an open batch and its uploads' records; the caller removes their staged bytes. Nil if the batch is not
    /// this patient's open batch.
    func abandon(batch: UUID, patient: String) async throws -> [UploadID]? {
        try await pool.write { db in
            let id = batch.uuidString.lowercased()
            guard try String.fetchOne(db, sql: "SELECT state FROM batches WHERE id = ? AND patient = ?", arguments: [id, patient]) == "open" else {
                return nil
            }
            let uploads = try String.fetchAll(db, sql: "SELECT id FROM uploads WHERE batch = ?", arguments: [id]).compactMap(UploadID.init)
            try db.execute(sql: "DELETE FROM batches WHERE id = ?", arguments: [id])
            return uploads
        }
    }

    /// Core has the batch: its uploads' records go (their staged bytes are removed by the caller). Idempotent.
    public func markReceived(batch: UUID, now: Date) async throws -> (found: Bool, uploads: [UploadID]) {
        try await pool.write { db in
            let id = batch.uuidString.lowercased()
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM batches WHERE id = ?", arguments: [id]) else { return (false, []) }
            if state == EdgeBatch.State.submitted.rawValue {
                try db.execute(sql: "UPDATE batches SET state = 'received', received_at = ? WHERE id = ?", arguments: [now.stored, id])
            }
            let uploads = try String.fetchAll(db, sql: "SELECT id FROM uploads WHERE batch = ?", arguments: [id]).compactMap(UploadID.init)
            return (true, uploads)
        }
    }

    /// Core's verdict on a batch it received. False when the batch is unknown or was never submitted.
    public func storeResult(batch: UUID, state: EdgeBatch.State, result: String, now: Date) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE batches SET state = ?, result = ?, decided_at = ?, received_at = coalesce(received_at, ?)
                WHERE id = ? AND state IN ('submitted', 'received', 'delivered', 'held', 'failed')
                """, arguments: [state.rawValue, result, now.stored, now.stored, batch.uuidString.lowercased()])
            return db.changesCount == 1
        }
    }

    /// Open batches with no upload activity since `cutoff` (abandoned in the browser): removed by the sweep.
    func abandonedBatches(before cutoff: Date) async throws -> [(UUID, String)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT b.id, b.patient FROM batches b WHERE b.state = 'open' AND b.created_at < ?
                AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.batch = b.id AND u.expires_at >= ?)
                """, arguments: [cutoff.stored, cutoff.stored]).compactMap { row in
                UUID(uuidString: row["id"]).map { ($0, row["patient"] as String) }
            }
        }
    }
}

/// The tus server's registry, in the edge's database: an upload row belongs to a batch (removed with it).
struct EdgeUploadRegistry: UploadRegistry {
    let store: EdgeStore

    func create(_ record: UploadRecord) async throws {
        let metadata = String(decoding: try JSONEncoder().encode(record.metadata), as: UTF8.self)
        let name = record.metadata.first { $0.key == "name" }?.value.flatMap { String(data: $0, encoding: .utf8) } ?? ""
        do {
            try await store.pool.write { db in
                try db.execute(sql: """
                    INSERT INTO uploads (id, batch, owner, length, "offset", metadata, name, expires_at, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [record.id.rawValue, record.batch, record.owner.id, record.length, record.offset, metadata,
                                     name, record.expires.stored, Date().stored])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw RegistryError.alreadyExists(record.id)
        }
    }

    func get(_ id: UploadID) async throws -> UploadRecord? {
        try await store.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM uploads WHERE id = ?", arguments: [id.rawValue]).map { row in
                try Self.record(row, id: id)
            }
        }
    }

    static func record(_ row: Row, id: UploadID) throws -> UploadRecord {
        let metadata: [MetadataEntry]
        do { metadata = try JSONDecoder().decode([MetadataEntry].self, from: Data((row["metadata"] as String).utf8)) } catch {
            throw RegistryError.unreadable(id, "its metadata is not JSON")
        }
        return UploadRecord(id: id, batch: row["batch"], owner: UploadOwner(row["owner"]), length: row["length"],
                            offset: row["offset"], metadata: metadata, expires: Date(stored: row["expires_at"]))
    }

    func setOffset(_ id: UploadID, offset: Int64, expires: Date) async throws {
        let changed = try await store.pool.write { db in
            try db.execute(sql: "UPDATE uploads SET \"offset\" = ?, expires_at = ? WHERE id = ?", arguments: [offset, expires.stored, id.rawValue])
            return db.changesCount
        }
        guard changed == 1 else { throw RegistryError.notFound(id) }
    }

    func delete(_ id: UploadID) async throws {
        try await store.pool.write { db in try db.execute(sql: "DELETE FROM uploads WHERE id = ?", arguments: [id.rawValue]) }
    }

    func expired(at now: Date) async throws -> [UploadRecord] {
        try await store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM uploads WHERE \"offset\" < length AND expires_at <= ?", arguments: [now.stored]).compactMap { row in
                guard let id = UploadID(row["id"]) else { return nil }
                return try Self.record(row, id: id)
            }
        }
    }
}
