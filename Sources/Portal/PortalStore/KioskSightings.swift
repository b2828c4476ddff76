import Foundation
import PostgresNIO

extension KioskRegistry {
    /// A kiosk connected or uploaded from `address`: its row's last_seen_at moves at most once a minute, so a kiosk
    /// uploading many instances writes once, not per request.
    public func seen(name: String, address: String?) async throws {
        try await database.client.query("""
            UPDATE kiosks SET last_seen_at = now(), last_address = \(address)
            WHERE name = \(name) AND (last_seen_at IS NULL OR last_seen_at < now() - interval '1 minute' OR last_address IS DISTINCT FROM \(address)::text)
            """, logger: database.logger)
    }
}
