import Foundation
import Logging
import PostgresNIO

/// The kiosks table: one row per kiosk name, with the serial of the certificate it was issued. Revocation is a
/// timestamp on the row, looked up by serial at every handshake.
public struct KioskRegistry: Sendable {
    let database: PortalDatabase

    public init(_ database: PortalDatabase) {
        self.database = database
    }

    /// Records a kiosk issued as `name`; fails (unique violation) when the name or fingerprint is taken.
    @discardableResult
    public func register(name: String, serial: String, fingerprint: String) async throws -> Int64 {
        var id: Int64 = 0
        for try await value in try await database.client.query("""
            INSERT INTO kiosks (name, certificate_serial, certificate_fingerprint) VALUES (\(name), \(serial), \(fingerprint))
            RETURNING id
            """, logger: database.logger).decode(Int64.self) { id = value }
        return id
    }

    /// True when the certificate with `serial` is revoked, or belongs to no kiosk on record: a certificate the
    /// registry does not know is refused like a revoked one (fail closed).
    public func isRevoked(serial: String) async throws -> Bool {
        var known = false
        var revoked = false
        for try await isRevoked in try await database.client.query("""
            SELECT revoked_at IS NOT NULL FROM kiosks WHERE certificate_serial = \(serial)
            """, logger: database.logger).decode(Bool.self) {
            known = true
            revoked = revoked || isRevoked
        }
        return !known || revoked
    }

    /// Revokes the kiosk's certificate; returns its serial (for cutting its open connections), nil when no
    /// such kiosk is on record. Revoking twice keeps the first time.
    public func revoke(name: String) async throws -> String? {
        var serial: String?
        for try await value in try await database.client.query("""
            UPDATE kiosks SET revoked_at = COALESCE(revoked_at, now()) WHERE name = \(name) RETURNING certificate_serial
            """, logger: database.logger).decode(String.self) { serial = value }
        return serial
    }
}
