import Delivery
import Foundation
import PortalStore
import PostgresNIO

/// The `deliveries` table as the workers' shared delivery ledger: one row per (destination, SOP Instance UID,
/// SHA-256 of the bytes sent).
struct PostgresDeliveryLedger: DeliveryLedger {
    let database: PortalDatabase

    func delivered(_ instances: [SpooledInstance], destination: String) async throws -> Set<String> {
        // bytea arrays do not bind; the hashes travel as hex and are decoded in SQL.
        let keyed = instances.filter { BatchRecords.bytes(hex: $0.sha256) != nil }.map { ($0.sopInstanceUID, $0.sha256.lowercased()) }
        guard !keyed.isEmpty else { return [] }
        let rows = try await database.client.query("""
            SELECT d.sop_instance_uid FROM deliveries d
            JOIN unnest(\(keyed.map(\.0))::text[], \(keyed.map(\.1))::text[]) AS wanted (uid, sha)
              ON d.sop_instance_uid = wanted.uid AND d.sha256 = decode(wanted.sha, 'hex')
            WHERE d.destination = \(destination) AND d.state = 'delivered'
            """, logger: database.logger)
        var found = Set<String>()
        for try await uid in rows.decode(String.self) { found.insert(uid) }
        return found
    }

    func record(_ instances: [SpooledInstance], destination: String) async throws {
        // bytea arrays do not bind; the hashes travel as hex and are decoded in SQL.
        let keyed = instances.filter { BatchRecords.bytes(hex: $0.sha256) != nil }.map { ($0.sopInstanceUID, $0.sha256.lowercased()) }
        guard !keyed.isEmpty else { return }
        try await database.client.query("""
            INSERT INTO deliveries (destination, sop_instance_uid, sha256, state, delivered_at)
            SELECT \(destination), uid, decode(sha, 'hex'), 'delivered', now()
            FROM unnest(\(keyed.map(\.0))::text[], \(keyed.map(\.1))::text[]) AS d (uid, sha)
            ON CONFLICT (destination, sop_instance_uid, sha256) DO UPDATE SET state = 'delivered',
                delivered_at = COALESCE(deliveries.delivered_at, now())
            """, logger: database.logger)
    }
}
