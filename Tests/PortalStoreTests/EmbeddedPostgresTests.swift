import Foundation
import PortalStore
import PostgresNIO
import XCTest
import PortalTestSupport

final class EmbeddedPostgresTests: XCTestCase {
    private var clusters: [EmbeddedPostgres] = []

    override func tearDown() async throws {
        for cluster in clusters {
            try? await cluster.stop()
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: cluster.directory).deletingLastPathComponent().path)
        }
        clusters = []
    }

    private func newCluster() throws -> EmbeddedPostgres {
        let cluster = try TestClusters.makeCluster(named: name)
        clusters.append(cluster)
        return cluster
    }

    private func currentUser(_ database: PortalDatabase) async throws -> String {
        var user = ""
        for try await value in try await database.client.query("SELECT current_user").decode(String.self) { user = value }
        return user
    }

    /// As root (our tests and CI), the cluster belongs to an unprivileged account and runs as it; a second
    /// start reuses the running server, a start after stop reuses the cluster, and a crash's leftovers do
    /// not stop the next start.
    func testStartsRestartsAndReusesTheCluster() async throws {
        let cluster = try newCluster()
        try await cluster.start()
        if geteuid() == 0 {
            let account = try XCTUnwrap(cluster.account)
            XCTAssertNotEqual(account.uid, 0)
            let owner = try FileManager.default.attributesOfItem(atPath: cluster.dataDirectory)[.ownerAccountID] as? NSNumber
            XCTAssertEqual(owner?.uint32Value, account.uid)
        }
        await assertTrue(try await cluster.isRunning())
        let pidBefore = try String(contentsOfFile: cluster.dataDirectory + "/postmaster.pid", encoding: .utf8).split(separator: "\n").first

        try await cluster.start()  // already running: reused, not restarted
        let pidAgain = try String(contentsOfFile: cluster.dataDirectory + "/postmaster.pid", encoding: .utf8).split(separator: "\n").first
        XCTAssertEqual(pidBefore, pidAgain)

        let database = try PortalDatabase(settings: cluster.settings)
        await assertEqual(try await currentUser(database), EmbeddedPostgres.superuser)
        await database.shutdown()

        try await cluster.stop()
        await assertFalse(try await cluster.isRunning())
        try await cluster.start()
        await assertTrue(try await cluster.isRunning())
        let conf = try String(contentsOfFile: cluster.dataDirectory + "/postgresql.conf", encoding: .utf8)
        XCTAssertEqual(conf.components(separatedBy: "include_if_exists = 'portal.conf'").count, 2, "the include is added once")
        // The server logs into a week of weekday files rather than one file that only grows.
        let logs = try FileManager.default.contentsOfDirectory(atPath: cluster.logDirectory)
        XCTAssertTrue(logs.contains { $0.hasPrefix("postgresql-") && $0.hasSuffix(".log") }, "\(logs)")

        // A crash: the postmaster killed outright leaves postmaster.pid and the socket lock behind.
        let pid = try XCTUnwrap(pidAgain.flatMap { Int32($0) })
        let newPid = try XCTUnwrap(try String(contentsOfFile: cluster.dataDirectory + "/postmaster.pid", encoding: .utf8)
            .split(separator: "\n").first.flatMap { Int32($0) })
        XCTAssertNotEqual(pid, newPid)
        XCTAssertEqual(kill(newPid, SIGKILL), 0)
        let died = try await eventually(10) { kill(newPid, 0) != 0 }
        XCTAssertTrue(died)
        XCTAssertTrue(FileManager.default.fileExists(atPath: cluster.dataDirectory + "/postmaster.pid"))
        try await cluster.start()
        let again = try PortalDatabase(settings: cluster.settings)
        await assertEqual(try await currentUser(again), EmbeddedPostgres.superuser)
        await again.shutdown()
    }

    /// The server restarted under a running pool: the pool opens new connections and serves queries again,
    /// and an idle worker's LISTEN is re-established (and says so, since notifications may have been missed).
    func testPoolAndListenerRecoverAfterTheServerRestarts() async throws {
        let cluster = try newCluster()
        try await cluster.start()
        let database = try PortalDatabase(settings: cluster.settings)
        addTeardownBlock { await database.shutdown() }
        try await Migrator.migrate(database)
        let queue = JobQueue(database)
        var wakeUps = queue.wakeUps(pollInterval: .seconds(600), retryInterval: .milliseconds(200)).makeAsyncIterator()
        let listening = await wakeUps.next()
        XCTAssertEqual(listening, .listening)

        try await cluster.stop()
        try await cluster.start()
        let served = try await eventually(15) { try await currentUser(database) == EmbeddedPostgres.superuser }
        XCTAssertTrue(served, "no query succeeded within 15 s of the restart")

        let relistening = await wakeUps.next()
        XCTAssertEqual(relistening, .listening)
        try await queue.enqueue(NewJob(kind: "after-restart"))
        let woken = await wakeUps.next()
        XCTAssertEqual(woken, .enqueued(kind: "after-restart"))
    }

    /// The account must be able to reach the cluster directory: said plainly, before initdb fails obscurely.
    func testAnUnreachableDirectoryIsNamed() async throws {
        guard geteuid() == 0 else { throw XCTSkip("reachability by another account matters only when running as root") }
        let parent = "/tmp/pgt-" + String(UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(atPath: parent + "/locked", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let cluster = try EmbeddedPostgres(directory: parent + "/locked/postgres", durability: .volatile)
        do {
            try await cluster.start()
            XCTFail("started under a directory its account cannot enter")
        } catch {
            XCTAssertTrue(error.description.contains("\(parent)/locked has mode 700"), error.description)
        }
    }

    /// A tool's failure carries its own words (here the server's, from the log).
    func testAFailedStartQuotesTheServer() async throws {
        let cluster = try newCluster()
        try await cluster.start()
        try await cluster.stop()
        try "9\n".write(toFile: cluster.dataDirectory + "/PG_VERSION", atomically: false, encoding: .utf8)
        do {
            try await cluster.start()
            XCTFail("started a cluster of another PostgreSQL version")
        } catch {
            guard case .toolFailed(let tool, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(tool, "pg_ctl start")
            XCTAssertTrue(error.description.contains("incompatible"), error.description)
        }
    }

    func testRefusesAnUnknownAccount() throws {
        guard geteuid() == 0 else { throw XCTSkip("the account matters only when running as root") }
        let parent = "/tmp/pgt-" + String(UUID().uuidString.prefix(8))
        XCTAssertThrowsError(try EmbeddedPostgres(directory: parent + "/postgres", runAs: "no-such-account-here")) { error in
            XCTAssertEqual(error as? EmbeddedPostgresError, .accountMissing("no-such-account-here"))
        }
    }
}
