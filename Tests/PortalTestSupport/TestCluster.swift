import Foundation
import PortalStore
import PostgresNIO
import XCTest

/// Shared by the portal's test targets (a test target cannot import another's helpers).
/// One temporary PostgreSQL cluster per test class, started on first use and stopped in the class's
/// `tearDown` (initdb and start take seconds; tests of a class share the cluster).
public actor TestClusters {
    public static let shared = TestClusters()
    private var clusters: [String: EmbeddedPostgres] = [:]

    /// The class's running cluster; skips the test when PostgreSQL is not installed.
    public func cluster(for owner: String) async throws -> EmbeddedPostgres {
        if let cluster = clusters[owner] { return cluster }
        let cluster = try Self.makeCluster(named: owner)
        try await cluster.start()
        clusters[owner] = cluster
        return cluster
    }

    public func stop(_ owner: String) async {
        guard let cluster = clusters.removeValue(forKey: owner) else { return }
        try? await cluster.stop()
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: cluster.directory).deletingLastPathComponent().path)
    }

    /// A cluster in a new temporary directory (not started); skips when initdb is missing.
    public static func makeCluster(named name: String) throws -> EmbeddedPostgres {
        // Short: the socket path must fit in 107 bytes.
        let parent = "/tmp/pgt-" + String(UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        do {
            return try EmbeddedPostgres(directory: parent + "/postgres", durability: .volatile)
        } catch .toolMissing(let tool) {
            print("skipping \(name): \(tool) is not installed (scripts/install-deps installs postgresql)")
            throw XCTSkip("PostgreSQL is not installed: \(tool)")
        }
    }

    /// For `class func tearDown`, which cannot be async.
    public nonisolated static func stopBlocking(_ owner: String) {
        let done = DispatchSemaphore(value: 0)
        Task {
            await shared.stop(owner)
            done.signal()
        }
        done.wait()
    }
}

/// A migrated database on the class's cluster for one test; shut down at the test's end.
public func migratedDatabase(for test: XCTestCase) async throws -> PortalDatabase {
    let cluster = try await TestClusters.shared.cluster(for: String(describing: type(of: test)))
    let database = try PortalDatabase(settings: cluster.settings)
    test.addTeardownBlock { await database.shutdown() }
    try await Migrator.migrate(database)
    return database
}

/// The class's migrated database with `seed` run on it once per class (the tests of a class share its database): it
/// runs while `table` is empty.
public func seededDatabase(for test: XCTestCase, unlessRowsIn table: String,
                           _ seed: (PortalDatabase) async throws -> Void) async throws -> PortalDatabase {
    let database = try await migratedDatabase(for: test)
    var rows = 0
    for try await count in try await database.client.query("SELECT count(*)::int FROM \(unescaped: table)", logger: database.logger)
        .decode(Int.self) { rows = count }
    if rows == 0 { try await seed(database) }
    return database
}

/// Waits for `condition`, polling, up to `seconds`.
public func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if (try? await condition()) == true { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

// XCTest's assertions take synchronous autoclosures; these take asynchronous ones.

public func assertEqual<T: Equatable>(_ expression: @autoclosure () async throws -> T, _ expected: T, _ message: String = "",
                               file: StaticString = #filePath, line: UInt = #line) async {
    do {
        let value = try await expression()
        XCTAssertEqual(value, expected, message, file: file, line: line)
    } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}

public func assertTrue(_ expression: @autoclosure () async throws -> Bool, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) async {
    await assertEqual(try await expression(), true, message, file: file, line: line)
}

public func assertFalse(_ expression: @autoclosure () async throws -> Bool, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) async {
    await assertEqual(try await expression(), false, message, file: file, line: line)
}

public func assertNil<T>(_ expression: @autoclosure () async throws -> T?, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) async {
    do {
        let value = try await expression()
        XCTAssertNil(value, message, file: file, line: line)
    } catch {
        XCTFail("threw \(error) \(message)", file: file, line: line)
    }
}

public func unwrap<T>(_ expression: @autoclosure () async throws -> T?, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) async throws -> T {
    let value = try await expression()
    return try XCTUnwrap(value, message, file: file, line: line)
}
