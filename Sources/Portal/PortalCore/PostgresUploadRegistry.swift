import Foundation
import Logging
import PortalProtocol
import PortalStore
import PostgresNIO
import Uploads

/// `UploadRegistry` on the `uploads` table, so every core process (and the workers) see the same uploads.
///
/// It lives here rather than in PortalStore so the store stays free of Hummingbird. The metadata is kept whole
/// (jsonb, values base64 as `MetadataEntry` encodes them) and its kiosk keys `sop-instance-uid` and `sha256` also
/// as columns, which the commit rule matches the manifest against.
public struct PostgresUploadRegistry: UploadRegistry {
    let database: PortalDatabase
    let logger: Logger

    public init(_ database: PortalDatabase, logger: Logger = Logger(label: "dicom-portal.uploads.registry")) {
        self.database = database
        self.logger = logger
    }

    public func create(_ record: UploadRecord) async throws {
        let batch = try Self.batchID(record.batch)
        let metadata = String(decoding: try JSONEncoder().encode(record.metadata), as: UTF8.self)
        let sopInstanceUID = Self.text(record.metadata, KioskAPI.Metadata.sopInstanceUID)
        let sha256 = Self.text(record.metadata, KioskAPI.Metadata.sha256)?.lowercased()
        var inserted = false
        for try await _ in try await database.client.query("""
            INSERT INTO uploads (id, batch, owner, length, "offset", metadata, expires_at, sop_instance_uid, sha256, state)
            VALUES (\(record.id.rawValue), \(batch), \(record.owner.id), \(record.length), \(record.offset), \(metadata)::jsonb,
                    \(record.expires), \(sopInstanceUID), \(sha256), \(record.isComplete ? "complete" : "receiving"))
            ON CONFLICT (id) DO NOTHING
            RETURNING id
            """, logger: logger) { inserted = true }
        guard inserted else { throw RegistryError.alreadyExists(record.id) }
    }

    public func get(_ id: UploadID) async throws -> UploadRecord? {
        try await records("""
            SELECT id, batch, owner, length, "offset", metadata::text, expires_at FROM uploads WHERE id = \(id.rawValue)
            """).first
    }

    public func setOffset(_ id: UploadID, offset: Int64, expires: Date) async throws {
        var found = false
        for try await _ in try await database.client.query("""
            UPDATE uploads SET "offset" = \(offset), expires_at = \(expires),
                state = CASE WHEN \(offset) = length THEN 'complete' ELSE 'receiving' END
            WHERE id = \(id.rawValue)
            RETURNING id
            """, logger: logger) { found = true }
        guard found else { throw RegistryError.notFound(id) }
    }

    public func delete(_ id: UploadID) async throws {
        try await database.client.query("DELETE FROM uploads WHERE id = \(id.rawValue)", logger: logger)
    }

    public func expired(at now: Date) async throws -> [UploadRecord] {
        try await records("""
            SELECT id, batch, owner, length, "offset", metadata::text, expires_at FROM uploads
            WHERE (length IS NULL OR "offset" < length) AND expires_at <= \(now)
            ORDER BY expires_at
            """)
    }

    private func records(_ query: PostgresQuery) async throws -> [UploadRecord] {
        var records: [UploadRecord] = []
        for try await (raw, batch, owner, length, offset, metadata, expires)
            in try await database.client.query(query, logger: logger).decode((String, UUID, String, Int64?, Int64, String, Date?).self) {
            // Rows are only written by `create`; one that does not read back is damage, reported as such.
            guard let id = UploadID(raw) else { continue }
            guard let length, let expires else { throw RegistryError.unreadable(id, "no length or expiry") }
            let entries: [MetadataEntry]
            do {
                entries = try JSONDecoder().decode([MetadataEntry].self, from: Data(metadata.utf8))
            } catch {
                throw RegistryError.unreadable(id, "the metadata is not a list of entries")
            }
            records.append(UploadRecord(id: id, batch: batch.uuidString.lowercased(), owner: UploadOwner(owner), length: length,
                                        offset: offset, metadata: entries, expires: expires))
        }
        return records
    }

    /// Batches are UUIDs in the database; the tus server handles them as text (lower-case, as records return them).
    static func batchID(_ text: String) throws -> UUID {
        guard let id = UUID(uuidString: text) else { throw PostgresUploadRegistryError.batchIsNotAUUID }
        return id
    }

    /// A metadata value as UTF-8 text, if present and valid.
    static func text(_ metadata: [MetadataEntry], _ key: String) -> String? {
        metadata.first { $0.key == key }?.value.flatMap { String(data: $0, encoding: .utf8) }
    }
}

public enum PostgresUploadRegistryError: Error, Equatable, CustomStringConvertible {
    case batchIsNotAUUID

    public var description: String { "an upload's batch must be a batch id (UUID) of the batches table" }
}
