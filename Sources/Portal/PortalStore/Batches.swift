import PortalProtocol
import Crypto
import Foundation
import Logging
import PostgresNIO

/// The audit event types core writes; one declaration each, so a reader of the audit table can rely on them.
public enum AuditEvent {
    public static let manifestStored = "manifest.stored"
    public static let batchCommitted = "batch.committed"
    public static let kioskRefused = "kiosk.refused"
    public static let uploadRefused = "upload.refused"
    public static let invitationCreated = "invitation.created"
    public static let invitationSent = "invitation.sent"
    public static let invitationRevoked = "invitation.revoked"
    public static let unlockRequested = "patient.unlock-requested"
    public static let patientEmailChanged = "patient.email-changed"
    /// Core's side of the edge link: a patient's record (with an invitation) or an unlock reached the edge; a batch
    /// taken from the edge (committed), one whose bytes did not match what the edge declared, one given up; a result
    /// shown to the patient.
    public static let linkPatientPushed = "link.patient-pushed"
    public static let linkUnlockPushed = "link.unlock-pushed"
    public static let linkBatchTaken = "link.batch-taken"
    public static let linkDigestMismatch = "link.digest-mismatch"
    public static let linkBatchFailed = "link.batch-failed"
    public static let linkResultPushed = "link.result-pushed"
    /// An edge security event as the edge reported it (actor "edge"): `edge.` + its type.
    public static func edge(_ type: String) -> String { "edge." + type }
}

/// A batch as core needs it to stage uploads: its id, state and the AES key its staged bytes are sealed with.
public struct Batch: Sendable, Equatable {
    public let id: UUID
    public let state: String
    /// 32 bytes, in the database so any worker can decrypt what any core process staged.
    public let stagingKey: Data
}

/// One instance a manifest promises, as the commit rule matches uploads against it.
public struct ManifestInstance: Sendable, Hashable, Codable {
    public var sopInstanceUID: String
    /// Lower-case hex SHA-256.
    public var sha256: String

    public init(sopInstanceUID: String, sha256: String) {
        self.sopInstanceUID = sopInstanceUID
        self.sha256 = sha256
    }

    // The names the commit query reads with jsonb_to_recordset.
    enum CodingKeys: String, CodingKey {
        case sopInstanceUID = "sop_instance_uid", sha256
    }
}

/// What storing a manifest did.
public enum ManifestStorage: Sendable, Equatable {
    /// The batch had none: stored (201).
    case stored
    /// The very same bytes were already stored (200: a replay).
    case alreadyStored
    /// Different bytes were already stored (409): a manifest is written once.
    case conflict
}

/// A batch's state and how far its uploads have come.
public struct BatchProgress: Sendable, Equatable {
    public let state: String
    /// Instances the manifest lists; nil before the manifest.
    public let expected: Int?
    /// With a manifest, how many of its instances have a complete matching upload; before it, complete uploads.
    public let received: Int

    public init(state: String, expected: Int?, received: Int) {
        self.state = state
        self.expected = expected
        self.received = received
    }
}

public enum BatchError: Error, Equatable, CustomStringConvertible {
    case unknownKiosk(String)
    case unknownPatient(Int64)
    case notFound(UUID)

    public var description: String {
        switch self {
        case .unknownKiosk(let name): "no kiosk named \(name) is on record"
        case .unknownPatient(let id): "no patient with id \(id) is on record"
        case .notFound(let id): "batch \(id) does not exist"
        }
    }
}

/// Batches: a kiosk's per session, a registered patient's for the edge pull; their manifests, and the commit rule.
///
/// The commit rule: a kiosk batch commits when it holds the manifest and, for every instance the manifest lists, a
/// complete upload (offset = length) whose `sop-instance-uid` and `sha256` metadata match. Committing sets the state,
/// enqueues the `protect` job and appends the audit record in one transaction, under the batch's row lock, so
/// concurrent completions commit it exactly once.
public struct BatchStore: Sendable {
    /// The job a committed batch gets: the worker protects every instance again.
    public static let protectJobKind = "protect"

    let database: PortalDatabase
    /// Attempts a batch's job gets before it is dead-lettered (`[worker] max_attempts`).
    let protectAttempts: Int
    private var logger: Logger { database.logger }

    public init(_ database: PortalDatabase, protectAttempts: Int = 5) {
        self.database = database
        self.protectAttempts = protectAttempts
    }

    /// The batch of `kiosk`'s `session`, made (with a fresh staging key) by the first caller. Race-safe: the insert
    /// does nothing when another caller made it first, and both read the one row back.
    public func kioskBatch(kiosk: String, session: String) async throws -> Batch {
        // Every upload of a session asks; only the first makes the batch.
        if let batch = try await findKioskBatch(kiosk: kiosk, session: session) { return batch }
        try await database.client.query("""
            INSERT INTO batches (id, kiosk, kiosk_session, staging_key)
            SELECT \(UUID()), id, \(session), \(Self.newKey()) FROM kiosks WHERE name = \(kiosk)
            ON CONFLICT (kiosk, kiosk_session) DO NOTHING
            """, logger: logger)
        guard let batch = try await findKioskBatch(kiosk: kiosk, session: session) else { throw BatchError.unknownKiosk(kiosk) }
        return batch
    }

    /// The batch of `kiosk`'s `session`, if any upload or manifest made it.
    public func findKioskBatch(kiosk: String, session: String) async throws -> Batch? {
        try await single("""
            SELECT b.id, b.state, b.staging_key FROM batches b JOIN kiosks k ON k.id = b.kiosk
            WHERE k.name = \(kiosk) AND b.kiosk_session = \(session)
            """)
    }

    /// A new batch for a registered patient's own upload (the edge pull). With `edgeBatch` (the edge's id for the
    /// batch) it is made once: a caller that comes second gets the batch the first made.
    public func createPatientBatch(patient: Int64, edgeBatch: UUID? = nil) async throws -> Batch {
        if let batch = try await single("""
            INSERT INTO batches (id, patient, staging_key, edge_batch)
            SELECT \(UUID()), id, \(Self.newKey()), \(edgeBatch) FROM patients WHERE id = \(patient)
            ON CONFLICT (edge_batch) DO NOTHING
            RETURNING id, state, staging_key
            """) { return batch }
        guard let edgeBatch, let batch = try await single("""
            SELECT id, state, staging_key FROM batches WHERE edge_batch = \(edgeBatch) AND patient = \(patient)
            """) else { throw BatchError.unknownPatient(patient) }
        return batch
    }

    public func batch(_ id: UUID) async throws -> Batch? {
        try await single("SELECT id, state, staging_key FROM batches WHERE id = \(id)")
    }

    /// Stores the manifest once. The caller has verified the signature and that `kiosk` sent it.
    public func storeManifest(batch: UUID, manifest: Data, signature: String, instances: [ManifestInstance],
                              actor: String) async throws -> ManifestStorage {
        let instancesJSON = String(decoding: try JSONEncoder().encode(instances), as: UTF8.self)
        let digest = Hex.encode(SHA256.hash(data: manifest))
        return try await database.transaction { connection in
            var found = false
            var stored: Data?
            for try await existing in try await connection.query("""
                SELECT manifest FROM batches WHERE id = \(batch) FOR UPDATE
                """, logger: logger).decode(Data?.self) {
                found = true
                stored = existing
            }
            guard found else { throw BatchError.notFound(batch) }
            if let stored { return stored == manifest ? .alreadyStored : .conflict }
            try await connection.query("""
                UPDATE batches SET manifest = \(manifest), manifest_signature = \(signature),
                    manifest_instances = \(instancesJSON)::jsonb, manifest_at = now()
                WHERE id = \(batch)
                """, logger: logger)
            try await AuditLog(database).append(eventType: AuditEvent.manifestStored, actor: actor, detail: [
                "batch": .string(batch.uuidString.lowercased()), "manifest_sha256": .string(digest),
                "instances": .integer(Int64(instances.count)),
            ], on: connection)
            return .stored
        }
    }

    /// Commits the batch if the commit rule holds; true when this call committed it.
    @discardableResult
    public func commitIfComplete(batch: UUID, actor: String) async throws -> Bool {
        // Until its manifest is in, an open batch cannot commit: most completions end here, without a transaction
        // and its row lock. A manifest stored after this read checks the rule itself, and sees this upload's
        // completion, which was recorded before this call.
        var ready = false
        for try await value in try await database.client.query("""
            SELECT state = 'open' AND manifest_instances IS NOT NULL FROM batches WHERE id = \(batch)
            """, logger: logger).decode(Bool.self) { ready = value }
        guard ready else { return false }
        return try await database.transaction { connection in
            var state: String?
            var expected: Int?
            var session: String?
            for try await (current, count, kioskSession) in try await connection.query("""
                SELECT state, jsonb_array_length(manifest_instances), kiosk_session FROM batches WHERE id = \(batch) FOR UPDATE
                """, logger: logger).decode((String, Int?, String?).self) {
                state = current
                expected = count
                session = kioskSession
            }
            guard state == "open", let expected else { return false }
            // Under the row lock, and each statement sees every completion committed before it began: of two
            // concurrent last completions, the second to take the lock sees both.
            var missing = 0
            for try await count in try await connection.query("""
                SELECT count(*)::int FROM batches b, jsonb_to_recordset(b.manifest_instances) AS e(sop_instance_uid text, sha256 text)
                WHERE b.id = \(batch) AND NOT EXISTS (
                    SELECT 1 FROM uploads u
                    WHERE u.batch = b.id AND u.sop_instance_uid = e.sop_instance_uid AND u.sha256 = e.sha256
                      AND u.length IS NOT NULL AND u."offset" = u.length)
                """, logger: logger).decode(Int.self) { missing = count }
            guard missing == 0 else { return false }
            try await connection.query("""
                UPDATE batches SET state = 'committed', committed_at = now() WHERE id = \(batch)
                """, logger: logger)
            let id = batch.uuidString.lowercased()
            try await JobQueue(database).enqueue(
                NewJob(kind: Self.protectJobKind, batch: batch, payloadJSON: JSONValue.object(["batch": .string(id)]).canonical,
                       maxAttempts: protectAttempts),
                on: connection)
            var detail: [String: JSONValue] = ["batch": .string(id), "instances": .integer(Int64(expected))]
            if let session { detail["session"] = .string(session) }
            try await AuditLog(database).append(eventType: AuditEvent.batchCommitted, actor: actor, detail: detail, on: connection)
            logger.info("batch committed", metadata: ["batch": "\(id)", "instances": "\(expected)"])
            return true
        }
    }

    /// Commits every open batch the rule now holds for: a commit that failed after the last completion (the
    /// database away, core stopped in between) is otherwise only retried when the kiosk sends its manifest again.
    /// Returns how many were committed.
    @discardableResult
    public func commitStranded(actor: String) async throws -> Int {
        var open: [UUID] = []
        for try await id in try await database.client.query("""
            SELECT id FROM batches WHERE state = 'open' AND manifest_instances IS NOT NULL ORDER BY created_at LIMIT 1000
            """, logger: logger).decode(UUID.self) { open.append(id) }
        var committed = 0
        for batch in open where try await commitIfComplete(batch: batch, actor: actor) { committed += 1 }
        return committed
    }

    /// The batch's state and progress, nil when it does not exist.
    public func progress(batch: UUID) async throws -> BatchProgress? {
        var progress: BatchProgress?
        for try await (state, expected, received) in try await database.client.query("""
            SELECT b.state, jsonb_array_length(b.manifest_instances),
                CASE WHEN b.manifest_instances IS NULL THEN
                    (SELECT count(*)::int FROM uploads u WHERE u.batch = b.id AND u.length IS NOT NULL AND u."offset" = u.length)
                ELSE
                    (SELECT count(*)::int FROM jsonb_to_recordset(b.manifest_instances) AS e(sop_instance_uid text, sha256 text)
                     WHERE EXISTS (
                        SELECT 1 FROM uploads u
                        WHERE u.batch = b.id AND u.sop_instance_uid = e.sop_instance_uid AND u.sha256 = e.sha256
                          AND u.length IS NOT NULL AND u."offset" = u.length))
                END
            FROM batches b WHERE b.id = \(batch)
            """, logger: logger).decode((String, Int?, Int).self) {
            progress = BatchProgress(state: state, expected: expected, received: received)
        }
        return progress
    }

    private func single(_ query: PostgresQuery) async throws -> Batch? {
        var batch: Batch?
        for try await (id, state, key) in try await database.client.query(query, logger: logger).decode((UUID, String, Data?).self) {
            // A batch made before schema v2 has no key; nothing can have been staged for it by core.
            guard let key else { continue }
            batch = Batch(id: id, state: state, stagingKey: key)
        }
        return batch
    }

    private static func newKey() -> Data {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
    }
}
