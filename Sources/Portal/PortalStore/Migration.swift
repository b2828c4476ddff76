import PortalProtocol
import Crypto
import Foundation
import Logging
import PostgresNIO

/// One versioned step of the schema: statements run in order, in one transaction.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }

    /// SHA-256 of the statements: a migration edited after it ran somewhere is refused, not silently skipped.
    public var checksum: String {
        Hex.encode(SHA256.hash(data: Data(statements.joined(separator: "\n;\n").utf8)))
    }
}

public enum MigrationError: Error, Equatable, CustomStringConvertible {
    case checksumChanged(version: Int, name: String)
    case databaseNewer(version: Int, known: Int)
    case failed(version: Int, name: String, reason: String)

    public var description: String {
        switch self {
        case .checksumChanged(let version, let name):
            "migration \(version) (\(name)) differs from the one applied to this database: its checksum changed"
        case .databaseNewer(let version, let known):
            "the database has schema version \(version), newer than this program knows (\(known)): upgrade the program"
        case .failed(let version, let name, let reason):
            "migration \(version) (\(name)) failed: \(reason)"
        }
    }
}

/// Applies migrations in version order. Each runs in its own transaction under one advisory lock, so any
/// number of processes may migrate at once: the first applies, the others find it recorded.
public enum Migrator {
    /// pg_advisory_xact_lock key for migrations (arbitrary, fixed: "PORTALMG").
    static let lockKey: Int64 = 0x504F_5254_414C_4D47

    /// Returns the versions this call applied.
    @discardableResult
    public static func migrate(_ database: PortalDatabase, migrations: [Migration] = Schema.migrations) async throws -> [Int] {
        let ordered = migrations.sorted { $0.version < $1.version }
        let known = ordered.last?.version ?? 0
        var applied: [Int] = []
        for migration in ordered {
            let didApply = try await database.transaction { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: database.logger)
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now())
                    """, logger: database.logger)
                var recorded: [Int: String] = [:]
                for try await (version, checksum) in try await connection.query(
                    "SELECT version, checksum FROM schema_migrations", logger: database.logger).decode((Int, String).self) {
                    recorded[version] = checksum
                }
                if let newest = recorded.keys.max(), newest > known { throw MigrationError.databaseNewer(version: newest, known: known) }
                if let checksum = recorded[migration.version] {
                    guard checksum == migration.checksum else {
                        throw MigrationError.checksumChanged(version: migration.version, name: migration.name)
                    }
                    return false
                }
                for statement in migration.statements {
                    do {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: database.logger)
                    } catch let error as PSQLError {
                        throw MigrationError.failed(version: migration.version, name: migration.name, reason: error.serverInfo?[.message] ?? "\(error)")
                    }
                }
                try await connection.query("""
                    INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """, logger: database.logger)
                return true
            }
            if didApply {
                database.logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                applied.append(migration.version)
            }
        }
        return applied
    }
}
