import Foundation
import Logging
import PostgresNIO

/// A kiosk the portal issued a certificate to.
public struct RegisteredKiosk: Sendable, Equatable {
    public let name: String
    public let certificateSerial: String
    public let certificateFingerprint: String
    public let createdAt: Date
    public let revokedAt: Date?
}

public enum KioskRecordError: Error, Equatable, CustomStringConvertible {
    case alreadyRegistered(String)
    case unknown(String)
    case alreadyRevoked(String)

    public var description: String {
        switch self {
        case .alreadyRegistered(let name): "a kiosk named \(name) is already registered (revoke it, then add it under a new name)"
        case .unknown(let name): "no kiosk is named \(name)"
        case .alreadyRevoked(let name): "kiosk \(name) is already revoked"
        }
    }
}

/// The `kiosks` table: which certificates the core accepts. A revoked row is kept, so its serial stays refused.
public struct KioskRegistry: Sendable {
    /// NOTIFY channel a revocation is announced on (payload: the certificate serial), so a running core cuts
    /// the kiosk's open connections at once.
    public static let revocationChannel = "portal_kiosks"

    let database: PortalDatabase

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    public func add(name: String, serial: String, fingerprint: String, actor: String) async throws {
        try await database.transaction { connection in
            let rows = try await connection.query("""
                INSERT INTO kiosks (name, certificate_serial, certificate_fingerprint) VALUES (\(name), \(serial), \(fingerprint))
                ON CONFLICT DO NOTHING RETURNING id
                """, logger: database.logger)
            var inserted = false
            for try await _ in rows.decode(Int64.self) { inserted = true }
            guard inserted else { throw KioskRecordError.alreadyRegistered(name) }
            try await AuditLog(database).append(eventType: "kiosk.added", actor: actor,
                                                detail: ["kiosk": .string(name), "serial": .string(serial)], on: connection)
        }
    }

    /// Marks the kiosk revoked; returns its certificate's serial, so open connections can be cut.
    @discardableResult
    public func revoke(name: String, actor: String) async throws -> String {
        try await database.transaction { connection in
            let rows = try await connection.query("""
                SELECT certificate_serial, revoked_at IS NOT NULL FROM kiosks WHERE name = \(name) FOR UPDATE
                """, logger: database.logger)
            var found: (String, Bool)?
            for try await row in rows.decode((String, Bool).self) { found = row }
            guard let (serial, revoked) = found else { throw KioskRecordError.unknown(name) }
            guard !revoked else { throw KioskRecordError.alreadyRevoked(name) }
            try await connection.query("UPDATE kiosks SET revoked_at = now() WHERE name = \(name)", logger: database.logger)
            try await connection.query("SELECT pg_notify(\(Self.revocationChannel), \(serial))", logger: database.logger)
            try await AuditLog(database).append(eventType: "kiosk.revoked", actor: actor,
                                                detail: ["kiosk": .string(name), "serial": .string(serial)], on: connection)
            return serial
        }
    }

    /// True when the certificate with `serial` is revoked, or belongs to no kiosk on record: a certificate the
    /// registry does not know (issued, then `kiosk add` failed before recording it) is refused like a revoked one.
    public func isRevoked(serial: String) async throws -> Bool {
        let rows = try await database.client.query("""
            SELECT revoked_at IS NOT NULL FROM kiosks WHERE certificate_serial = \(serial)
            """, logger: database.logger)
        var known = false, revoked = false
        for try await isRevoked in rows.decode(Bool.self) {
            known = true
            revoked = revoked || isRevoked
        }
        return !known || revoked
    }

    /// Of `serials`, those `isRevoked` would refuse: revoked, or of no kiosk on record.
    public func revoked(among serials: [String]) async throws -> [String] {
        guard !serials.isEmpty else { return [] }
        var active = Set<String>()
        for try await serial in try await database.client.query("""
            SELECT certificate_serial FROM kiosks WHERE certificate_serial = ANY(\(serials)) AND revoked_at IS NULL
            """, logger: database.logger).decode(String.self) { active.insert(serial) }
        return serials.filter { !active.contains($0) }
    }

    public func list() async throws -> [RegisteredKiosk] {
        let rows = try await database.client.query("""
            SELECT name, certificate_serial, certificate_fingerprint, created_at, revoked_at FROM kiosks ORDER BY name
            """, logger: database.logger)
        var kiosks: [RegisteredKiosk] = []
        for try await (name, serial, fingerprint, created, revoked) in rows.decode((String, String, String, Date, Date?).self) {
            kiosks.append(RegisteredKiosk(name: name, certificateSerial: serial, certificateFingerprint: fingerprint,
                                          createdAt: created, revokedAt: revoked))
        }
        return kiosks
    }
}
