import Credentials
import Foundation
import GRDB
import PortalMetrics

/// The edge's own system of record, in the DMZ: invited patients, their password hashes and second factors,
/// sessions, throttles, batches and uploads, and the security events core takes into its audit chain. SQLite (one
/// file under the edge's state directory): the edge holds no hospital database credentials.
///
/// Secrets at rest (TOTP secrets, staging keys) are sealed with the edge's key (`edge.key`, 0600, beside the
/// database), so a copy of the database alone opens neither.
public final class EdgeStore: Sendable {
    let pool: DatabasePool
    let sealingKey: SealingKey
    /// Counts what is recorded here (events, completed uploads) for `[edge] metrics_listen`.
    public let metrics = EdgeMetrics()

    /// Opens (creating and migrating) `directory/edge.sqlite` and the sealing key `directory/edge.key`.
    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        sealingKey = try SealingKey.loadOrCreate(at: directory.appendingPathComponent("edge.key"), name: Self.keyName)
        var configuration = GRDB.Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: directory.appendingPathComponent("edge.sqlite").path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    static let keyName = SealingKey.Name(owner: "the edge's sealing key", losing: "every sealed secret unreadable")

    func seal(_ plaintext: [UInt8]) throws -> Data { try sealingKey.seal(plaintext) }

    func open(_ sealed: Data) throws -> [UInt8] { try sealingKey.open(sealed) }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE patients (
                    ref TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    birth_date TEXT NOT NULL CHECK (length(birth_date) = 8),
                    email TEXT COLLATE NOCASE UNIQUE,
                    password_hash TEXT,
                    totp_secret BLOB,
                    totp_last_step INTEGER,
                    second_factor_failures INTEGER NOT NULL DEFAULT 0,
                    locked_at REAL,
                    enrolled_at REAL,
                    updated_at REAL NOT NULL
                );
                CREATE TABLE invitations (
                    token_digest BLOB PRIMARY KEY CHECK (length(token_digest) = 32),
                    patient TEXT NOT NULL REFERENCES patients (ref) ON DELETE CASCADE,
                    expires_at REAL NOT NULL,
                    birth_date_failures INTEGER NOT NULL DEFAULT 0,
                    used_at REAL,
                    voided_at REAL
                );
                CREATE INDEX invitations_patient ON invitations (patient);
                CREATE TABLE passkeys (
                    credential_id BLOB PRIMARY KEY,
                    patient TEXT NOT NULL REFERENCES patients (ref) ON DELETE CASCADE,
                    public_key BLOB NOT NULL,
                    sign_count INTEGER NOT NULL,
                    created_at REAL NOT NULL,
                    last_used_at REAL
                );
                CREATE INDEX passkeys_patient ON passkeys (patient);
                CREATE TABLE recovery_codes (
                    patient TEXT NOT NULL REFERENCES patients (ref) ON DELETE CASCADE,
                    digest BLOB NOT NULL CHECK (length(digest) = 32),
                    used_at REAL,
                    PRIMARY KEY (patient, digest)
                );
                CREATE TABLE sessions (
                    id_digest BLOB PRIMARY KEY CHECK (length(id_digest) = 32),
                    state TEXT NOT NULL CHECK (state IN ('anonymous', 'enrolling', 'second-factor', 'signed-in')),
                    patient TEXT REFERENCES patients (ref) ON DELETE CASCADE,
                    invitation BLOB,
                    enrolment_step TEXT,
                    csrf TEXT NOT NULL,
                    address TEXT,
                    created_at REAL NOT NULL,
                    last_seen_at REAL NOT NULL,
                    authenticated_at REAL,
                    step_up_at REAL,
                    challenge BLOB,
                    challenge_purpose TEXT,
                    challenge_expires_at REAL,
                    pending_totp BLOB
                );
                CREATE INDEX sessions_patient ON sessions (patient);
                CREATE TABLE throttles (
                    key TEXT PRIMARY KEY,
                    failures INTEGER NOT NULL,
                    last_failure_at REAL NOT NULL
                );
                CREATE TABLE batches (
                    id TEXT PRIMARY KEY,
                    patient TEXT NOT NULL REFERENCES patients (ref) ON DELETE CASCADE,
                    state TEXT NOT NULL CHECK (state IN ('open', 'submitted', 'received', 'delivered', 'held', 'failed')),
                    label TEXT,
                    staging_key BLOB NOT NULL,
                    summary TEXT,
                    result TEXT,
                    created_at REAL NOT NULL,
                    submitted_at REAL,
                    received_at REAL,
                    decided_at REAL
                );
                CREATE INDEX batches_patient ON batches (patient, created_at);
                CREATE INDEX batches_state ON batches (state);
                CREATE TABLE uploads (
                    id TEXT PRIMARY KEY,
                    batch TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
                    owner TEXT NOT NULL,
                    length INTEGER NOT NULL CHECK (length >= 0),
                    "offset" INTEGER NOT NULL CHECK ("offset" >= 0 AND "offset" <= length),
                    metadata TEXT NOT NULL,
                    name TEXT NOT NULL,
                    expires_at REAL NOT NULL,
                    sha256 TEXT,
                    created_at REAL NOT NULL
                );
                CREATE INDEX uploads_batch ON uploads (batch);
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    type TEXT NOT NULL,
                    patient TEXT,
                    address TEXT,
                    detail TEXT NOT NULL
                );
                """)
        }
        return migrator
    }
}

extension Date {
    /// Stored as seconds since 1970 (REAL) so that comparisons happen in SQL.
    var stored: Double { timeIntervalSince1970 }
    init(stored: Double) { self.init(timeIntervalSince1970: stored) }
}
