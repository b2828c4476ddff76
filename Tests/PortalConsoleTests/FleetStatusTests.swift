import Analytics
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PortalConsole
import PortalCore
import PortalMetrics
import PortalProtocol
import PortalStore
import PortalTestSupport
import ServiceLifecycle
import SessionReport
import Synchronization
import TestSupport
import XCTest

/// The fleet's status over a real PostgreSQL (queue, workers' heartbeats, delivery backlog, kiosks), and the
/// Prometheus listeners of core, a worker and the edge scraped over loopback.
final class FleetStatusTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    let logger = Logger(label: "test.fleet")
    static let auditor = SignedInStaff(id: 2, username: "bob", displayName: "Bob", role: .auditor)
    static let destination = "dicom://PACS@pacs.example:104"

    func testFleetStatusAndHeartbeats() async throws {
        let database = try await fleet()
        try await WorkerHeartbeats(database).beat(name: "worker:a:1", currentBatch: Self.working)
        let app = ConsoleTestApp.application([FleetAPI(database: database, logger: logger, leaseSeconds: 60)])
        let today = Statistics.day(Date())
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/fleet?from=\(today)&to=\(today)", method: .get, headers: ConsoleTestApp.headers(Self.auditor)) { response in
                XCTAssertEqual(response.status, .ok)
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                let status = try decoder.decode(FleetStatus.self, from: Data(response.body.readableBytesView))
                XCTAssertEqual(status.queue.byState, ["queued": 1, "running": 1, "dead": 1])
                XCTAssertEqual(status.queue.deadLetters, 1)
                XCTAssertNotNil(status.queue.oldestQueuedSeconds)
                XCTAssertEqual(status.deliveries.map { "\($0.destination) \($0.pending) \($0.failed)" }, ["\(Self.destination) 2 1"])
                XCTAssertEqual(status.batchesByState, ["open": 1, "committed": 1])
                XCTAssertEqual(status.batchesWaiting, 1)

                XCTAssertEqual(status.workers.map(\.name), ["worker:a:1", "worker:b:2", "worker:c:3"])
                let (a, b, c) = (status.workers[0], status.workers[1], status.workers[2])
                XCTAssertEqual([a.alive, b.alive, c.alive], [true, false, false], "b stopped; c went silent for longer than a lease")
                XCTAssertEqual(a.currentBatch, Self.working.uuidString.lowercased())
                XCTAssertEqual([a.batchesDone, a.batchesFailed], [2, 1])
                XCTAssertEqual([a.host, "\(a.pid)"], ["a", "1"])
                XCTAssertNotNil(b.stoppedAt)
                XCTAssertNil(b.currentBatch)

                XCTAssertEqual(status.kiosks.map(\.name), ["desk-a", "desk-b"])
                XCTAssertEqual(status.kiosks[0].lastAddress, "10.0.0.5")
                XCTAssertNotNil(status.kiosks[0].lastSeenAt)
                XCTAssertEqual([status.kiosks[0].revoked, status.kiosks[1].revoked], [false, true])
                XCTAssertEqual([status.kiosks[0].sessions, status.kiosks[1].sessions], [1, 0])
                XCTAssertNil(status.kiosks[1].lastSeenAt)
                XCTAssertGreaterThan(status.auditHeadSeq, 0)
            }
            try await client.execute(uri: "/api/fleet", method: .get, headers: ConsoleTestApp.headers(nil)) { response in
                XCTAssertEqual(response.status, .unauthorized)
            }
            try await client.execute(uri: "/api/fleet?from=nonsense", method: .get, headers: ConsoleTestApp.headers(Self.auditor)) { response in
                XCTAssertEqual(response.status, .badRequest)
            }
        }
        // A beat for a worker without a row says so (the worker then records its start again).
        let unknown = try await WorkerHeartbeats(database).beat(name: "worker:nowhere:9", currentBatch: nil)
        XCTAssertFalse(unknown)
        // A kiosk seen again within the minute from the same address is not written again; from another, it is.
        let before = try await lastSeen(database, "desk-a")
        try await KioskRegistry(database).seen(name: "desk-a", address: "10.0.0.5")
        await assertEqual(try await lastSeen(database, "desk-a").at, before.at)
        try await KioskRegistry(database).seen(name: "desk-a", address: "10.0.0.6")
        await assertEqual(try await lastSeen(database, "desk-a").address, "10.0.0.6")
        try await KioskRegistry(database).seen(name: "desk-a", address: "10.0.0.5")
    }

    func testMetricsListenersServePrometheusText() async throws {
        let database = try await fleet()
        try await WorkerHeartbeats(database).beat(name: "worker:a:1", currentBatch: Self.working)
        let core = CoreMetrics(database: database, leaseSeconds: 60, logger: logger)
        let worker = WorkerMetrics()
        worker.batchRecorded(FleetAnalyticsTests.reportC(), after: .seconds(2))
        worker.batchFailed()
        let edge = EdgeMetrics()
        for event in ["signin.password-failed", "second-factor.failed", "account.locked", "signin.password-ok"] { edge.observe(event) }
        edge.uploadCompleted(bytes: 1234)
        edge.uploadCompleted(bytes: 1000)
        let head = try await AuditLog(database).head()?.seq ?? 0

        let scraped = try await withListeners([
            { await core.render() },
            { worker.render() },
            { edge.render(sessions: ["signed-in": 2, "anonymous": 1]) },
        ])
        let (coreText, workerText, edgeText) = (scraped[0], scraped[1], scraped[2])
        for line in ["portal_database_up 1.0", "portal_jobs{state=\"queued\"} 1.0", "portal_jobs{state=\"running\"} 1.0",
                     "portal_jobs{state=\"dead\"} 1.0", "portal_jobs{state=\"done\"} 0.0", "portal_batches{state=\"committed\"} 1.0",
                     "portal_batches_waiting 1.0", "portal_deliveries_pending{destination=\"\(Self.destination)\"} 2.0",
                     "portal_deliveries_failed{destination=\"\(Self.destination)\"} 1.0", "portal_workers_alive 1.0",
                     "portal_audit_head_seq \(Double(head))"] {
            XCTAssertTrue(coreText.contains(line + "\n"), "\(line) in\n\(coreText)")
        }
        XCTAssertTrue(coreText.contains("# TYPE portal_jobs gauge"), coreText)
        let age = try XCTUnwrap(value(of: "portal_kiosk_last_seen_age_seconds{kiosk=\"desk-a\"}", in: coreText))
        XCTAssertTrue((0..<3600).contains(age), "\(age)")
        XCTAssertFalse(coreText.contains("kiosk=\"desk-b\""), "a revoked kiosk is not watched")

        for line in ["portal_worker_batches_processed_total 1", "portal_worker_batches_failed_total 1",
                     "portal_worker_files_total{verdict=\"clean\"} 1", "portal_worker_files_total{verdict=\"rejected\"} 1",
                     "portal_worker_protect_duration_seconds_count 1", "portal_worker_protect_duration_seconds_bucket{le=\"+Inf\"} 1"] {
            XCTAssertTrue(workerText.contains(line + "\n"), "\(line) in\n\(workerText)")
        }
        XCTAssertTrue(workerText.contains("# TYPE portal_worker_protect_duration_seconds histogram"), workerText)
        // Two seconds: above the one-second bucket, within the five-second one.
        let buckets = workerText.split(separator: "\n").filter { $0.hasPrefix("portal_worker_protect_duration_seconds_bucket{le=\"") }
        XCTAssertEqual(buckets.first?.hasSuffix(" 0"), true, "\(buckets)")
        XCTAssertEqual(buckets.dropFirst().first?.hasSuffix(" 1"), true, "\(buckets)")

        for line in ["portal_edge_signin_failures_total 2", "portal_edge_lockouts_total 1", "portal_edge_uploads_completed_total 2",
                     "portal_edge_upload_bytes_total 2234", "portal_edge_events_total{event=\"signin.password-ok\"} 1",
                     "portal_edge_sessions{state=\"signed-in\"} 2.0", "portal_edge_sessions{state=\"anonymous\"} 1.0",
                     "portal_edge_sessions{state=\"enrolling\"} 0.0"] {
            XCTAssertTrue(edgeText.contains(line + "\n"), "\(line) in\n\(edgeText)")
        }
    }

    // MARK: Fixture

    static let working = UUID(uuidString: "6f1c7a52-0000-4000-8000-000000000001")!

    /// Kiosks (desk-b revoked, desk-a seen with a session today), jobs (queued, running, dead), deliveries, two
    /// batches (open, committed), and three workers (alive and working, stopped, silent); once per class.
    func fleet() async throws -> PortalDatabase {
        try await seededDatabase(for: self, unlessRowsIn: "kiosks") { database in
            let kiosks = KioskRegistry(database)
            try await kiosks.add(name: "desk-a", serial: "1a", fingerprint: String(repeating: "c", count: 64), actor: "test")
            try await kiosks.add(name: "desk-b", serial: "1b", fingerprint: String(repeating: "d", count: 64), actor: "test")
            _ = try await kiosks.revoke(name: "desk-b", actor: "test")
            try await kiosks.seen(name: "desk-a", address: "10.0.0.5")

            let batches = BatchStore(database)
            let open = try await batches.kioskBatch(kiosk: "desk-a", session: "today")
            var summary = SessionSummary(FleetAnalyticsTests.reportB(), exit: 0)
            summary.started = Date()
            try await SessionSummaries(database).recordKiosk(batch: open.id, analytics: try JSONDocument(encoding: summary).json)
            let committed = try await batches.kioskBatch(kiosk: "desk-a", session: "committed")
            try await database.client.query("UPDATE batches SET state = 'committed' WHERE id = \(committed.id)", logger: logger)

            let queue = JobQueue(database)
            for _ in 0..<3 { try await queue.enqueue(NewJob(kind: "fleet-test")) }
            _ = try await queue.claim(worker: "worker:a:1/0", kinds: ["fleet-test"], lease: 600)
            let claimed = try await queue.claim(worker: "worker:a:1/0", kinds: ["fleet-test"], lease: 600)
            let dying = try XCTUnwrap(claimed)
            try await queue.fail(dying.lease, error: "test", permanent: true)

            for (index, state) in ["pending", "pending", "failed", "delivered"].enumerated() {
                try await database.client.query("""
                    INSERT INTO deliveries (destination, sop_instance_uid, sha256, state)
                    VALUES (\(Self.destination), \("1.2.\(index)"), decode(repeat('00', 32), 'hex'), \(state))
                    """, logger: logger)
            }

            let heartbeats = WorkerHeartbeats(database)
            try await heartbeats.started(name: "worker:a:1", host: "a", pid: 1)
            try await heartbeats.beat(name: "worker:a:1", currentBatch: Self.working)
            try await heartbeats.finished(name: "worker:a:1", failed: false)
            try await heartbeats.finished(name: "worker:a:1", failed: false)
            try await heartbeats.finished(name: "worker:a:1", failed: true)
            try await heartbeats.started(name: "worker:b:2", host: "b", pid: 2)
            try await heartbeats.stopped(name: "worker:b:2")
            try await heartbeats.started(name: "worker:c:3", host: "c", pid: 3)
            // Silent for ten minutes: ten times the lease of these tests' readers.
            try await database.client.query("UPDATE workers SET last_seen_at = now() - interval '10 minutes' WHERE name = 'worker:c:3'", logger: logger)
        }
    }

    func lastSeen(_ database: PortalDatabase, _ kiosk: String) async throws -> (at: Date?, address: String?) {
        var found: (Date?, String?) = (nil, nil)
        for try await row in try await database.client.query("SELECT last_seen_at, last_address FROM kiosks WHERE name = \(kiosk)",
                                                             logger: logger).decode((Date?, String?).self) { found = row }
        return found
    }

    /// Starts a `MetricsListener` per renderer on a free loopback port, scrapes each with curl, stops them.
    func withListeners(_ renderers: [@Sendable () async -> String]) async throws -> [String] {
        var services: [MetricsListener] = []
        let ports = PortList()
        for (index, render) in renderers.enumerated() {
            services.append(MetricsListener(host: "127.0.0.1", port: 0, logger: logger, render: render,
                                            onListening: { port in ports.set(index, port) }))
        }
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
        let running = Task { try await group.run() }
        defer { running.cancel() }
        let bound = try await eventually(30) { ports.all(renderers.count) != nil }
        XCTAssertTrue(bound, "the listeners did not start")
        var texts: [String] = []
        for port in ports.all(renderers.count) ?? [] {
            let result = try TestSupport.run("curl", ["-sf", "-D", "/dev/stderr", "http://127.0.0.1:\(port)/metrics"])
            XCTAssertTrue(result.stderrText.lowercased().contains("content-type: text/plain; version=0.0.4"), result.stderrText)
            texts.append(result.stdoutText)
        }
        await group.triggerGracefulShutdown()
        try await running.value
        return texts
    }

    func value(of series: String, in text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
    }
}

/// The ports the listeners report, by index.
final class PortList: Sendable {
    private let ports = Mutex<[Int: Int]>([:])

    func set(_ index: Int, _ port: Int) { ports.withLock { $0[index] = port } }
    func all(_ count: Int) -> [Int]? {
        ports.withLock { ports in ports.count == count ? (0..<count).compactMap { ports[$0] } : nil }
    }
}
