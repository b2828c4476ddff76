import Foundation
import PortalStore
import PostgresNIO
import XCTest
import PortalTestSupport

final class MigrationTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    /// A new, empty database on the class's cluster (migrations must start from nothing).
    private func freshDatabase() async throws -> DatabaseSettings {
        let cluster = try await TestClusters.shared.cluster(for: String(describing: type(of: self)))
        let admin = try PortalDatabase(settings: cluster.settings)
        let name = "m_" + UUID().uuidString.prefix(8).lowercased()
        try await admin.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        await admin.shutdown()
        var settings = cluster.settings
        settings.database = name
        return settings
    }

    private func appliedVersions(_ database: PortalDatabase) async throws -> [Int] {
        var versions: [Int] = []
        for try await version in try await database.client.query("SELECT version FROM schema_migrations ORDER BY version").decode(Int.self) {
            versions.append(version)
        }
        return versions
    }

    func testMigratingTwiceAppliesOnce() async throws {
        let database = try PortalDatabase(settings: try await freshDatabase())
        addTeardownBlock { await database.shutdown() }
        await assertEqual(try await Migrator.migrate(database), Schema.migrations.map(\.version))
        await assertEqual(try await Migrator.migrate(database), [])
        await assertEqual(try await appliedVersions(database), Schema.migrations.map(\.version))
    }

    /// Two processes starting at once: the advisory lock lets one apply each migration, the other skips it.
    func testTwoClientsMigratingAtOnce() async throws {
        let settings = try await freshDatabase()
        let first = try PortalDatabase(settings: settings)
        let second = try PortalDatabase(settings: settings)
        addTeardownBlock {
            await first.shutdown()
            await second.shutdown()
        }
        async let a = Migrator.migrate(first)
        async let b = Migrator.migrate(second)
        let (appliedByFirst, appliedBySecond) = try await (a, b)
        XCTAssertEqual((appliedByFirst + appliedBySecond).sorted(), Schema.migrations.map(\.version))
        await assertEqual(try await appliedVersions(first), Schema.migrations.map(\.version))
    }

    func testAnEditedMigrationIsRefusedByName() async throws {
        let database = try PortalDatabase(settings: try await freshDatabase())
        addTeardownBlock { await database.shutdown() }
        let original = Migration(version: 1, name: "first", statements: ["CREATE TABLE t (a int)"])
        try await Migrator.migrate(database, migrations: [original])
        let edited = Migration(version: 1, name: "first", statements: ["CREATE TABLE t (a bigint)"])
        do {
            try await Migrator.migrate(database, migrations: [edited])
            XCTFail("an edited migration was accepted")
        } catch let error as MigrationError {
            XCTAssertEqual(error, .checksumChanged(version: 1, name: "first"))
            XCTAssertTrue(error.description.contains("first"))
        }
    }

    func testADatabaseNewerThanTheProgramIsRefused() async throws {
        let database = try PortalDatabase(settings: try await freshDatabase())
        addTeardownBlock { await database.shutdown() }
        let two = [Migration(version: 1, name: "a", statements: ["SELECT 1"]), Migration(version: 2, name: "b", statements: ["SELECT 2"])]
        try await Migrator.migrate(database, migrations: two)
        do {
            try await Migrator.migrate(database, migrations: [two[0]])
            XCTFail("an older program migrated a newer database")
        } catch let error as MigrationError {
            XCTAssertEqual(error, .databaseNewer(version: 2, known: 1))
        }
    }

    /// One delivery per (destination, SOP Instance UID, content hash): a second is refused by the schema.
    func testDeliveriesAreUniquePerDestinationInstanceAndContent() async throws {
        let database = try await migratedDatabase(for: self)
        let hash = Data(repeating: 7, count: 32)
        let insert: PostgresQuery = try "INSERT INTO deliveries (destination, sop_instance_uid, sha256) VALUES ('pacs', '1.2.3', \(hash))"
        try await database.client.query(insert)
        do {
            try await database.client.query(insert)
            XCTFail("a second delivery of the same instance and content was recorded")
        } catch let error as PSQLError {
            XCTAssertEqual(error.serverInfo?[.sqlState], "23505")
        }
        let otherContent = Data(repeating: 8, count: 32)
        try await database.client.query("INSERT INTO deliveries (destination, sop_instance_uid, sha256) VALUES ('pacs', '1.2.3', \(otherContent))")
        // ON CONFLICT DO NOTHING is how a worker claims a delivery idempotently.
        var inserted = 0
        for try await _ in try await database.client.query("""
            INSERT INTO deliveries (destination, sop_instance_uid, sha256) VALUES ('pacs', '1.2.3', \(hash))
            ON CONFLICT DO NOTHING RETURNING id
            """) { inserted += 1 }
        XCTAssertEqual(inserted, 0)
    }

    func testABatchBelongsToExactlyOneOwner() async throws {
        let database = try await migratedDatabase(for: self)
        do {
            try await database.client.query("INSERT INTO batches (id) VALUES (\(UUID()))")
            XCTFail("a batch without an owner was accepted")
        } catch let error as PSQLError {
            XCTAssertEqual(error.serverInfo?[.sqlState], "23514")
        }
    }

    /// A database at version 1 with a batch and an upload in it takes v2: the rows stay, the new columns are empty,
    /// and the (kiosk, session) pair is unique.
    func testVersion2AppliesOnTopOfVersion1() async throws {
        let database = try PortalDatabase(settings: try await freshDatabase())
        addTeardownBlock { await database.shutdown() }
        await assertEqual(try await Migrator.migrate(database, migrations: Schema.migrations.filter { $0.version == 1 }), [1])
        let batch = UUID()
        try await database.client.query("""
            INSERT INTO kiosks (name, certificate_serial, certificate_fingerprint) VALUES ('desk-1', '01', 'f1')
            """)
        try await database.client.query("INSERT INTO batches (id, kiosk) SELECT \(batch), id FROM kiosks")
        try await database.client.query("INSERT INTO uploads (id, batch, length) VALUES ('u1', \(batch), 10)")

        await assertEqual(try await Migrator.migrate(database), [2, 3, 4, 5])
        await assertEqual(try await appliedVersions(database), [1, 2, 3, 4, 5])
        var rows: [(String, String?, Data?)] = []
        for try await row in try await database.client.query("""
            SELECT u.owner, b.kiosk_session, b.staging_key FROM uploads u JOIN batches b ON b.id = u.batch
            """).decode((String, String?, Data?).self) { rows.append(row) }
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows.first?.0, "")
        XCTAssertNil(rows.first?.1)
        XCTAssertNil(rows.first?.2)

        try await database.client.query("INSERT INTO batches (id, kiosk, kiosk_session) SELECT \(UUID()), id, 's1' FROM kiosks")
        do {
            try await database.client.query("INSERT INTO batches (id, kiosk, kiosk_session) SELECT \(UUID()), id, 's1' FROM kiosks")
            XCTFail("two batches for one kiosk session")
        } catch let error as PSQLError {
            XCTAssertEqual(error.serverInfo?[.sqlState], "23505")
        }
        do {
            try await database.client.query("UPDATE batches SET staging_key = '\\x00'::bytea WHERE id = \(batch)")
            XCTFail("a staging key of 1 byte was accepted")
        } catch let error as PSQLError {
            XCTAssertEqual(error.serverInfo?[.sqlState], "23514")
        }
    }
}
