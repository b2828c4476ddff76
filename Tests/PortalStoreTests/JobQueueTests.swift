import Foundation
import PortalStore
import PostgresNIO
import XCTest
import PortalTestSupport

final class JobQueueTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    /// A migrated database with an empty queue.
    private func emptyQueue() async throws -> (PortalDatabase, JobQueue) {
        let database = try await migratedDatabase(for: self)
        try await database.client.query("DELETE FROM jobs")
        return (database, JobQueue(database))
    }

    private func state(of id: Int64, in database: PortalDatabase) async throws -> (String, Int, Double) {
        var result = ("", 0, 0.0)
        for try await row in try await database.client.query("""
            SELECT state, attempts, extract(epoch FROM run_after - now())::float8 FROM jobs WHERE id = \(id)
            """).decode((String, Int, Double).self) { result = row }
        return result
    }

    /// Four workers over 300 jobs: every job completed exactly once, none claimed twice.
    func testConcurrentClaimersCompleteEachJobOnce() async throws {
        let (database, queue) = try await emptyQueue()
        try await database.client.query("""
            INSERT INTO jobs (kind, payload) SELECT 'count', jsonb_build_object('n', n) FROM generate_series(1, 300) AS n
            """)
        let claims = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var mine: [Int64] = []
                    while let job = try await queue.claim(worker: "w\(worker)", kinds: ["count"], lease: 30) {
                        mine.append(job.id)
                        try await queue.complete(job.lease)
                    }
                    return mine
                }
            }
            var all: [[Int64]] = []
            for try await mine in group { all.append(mine) }
            return all
        }
        let ids = claims.flatMap { $0 }
        XCTAssertEqual(ids.count, 300)
        XCTAssertEqual(Set(ids).count, 300)
        XCTAssertGreaterThan(claims.filter { !$0.isEmpty }.count, 1, "one worker did all the work")
        var counts: [String: Int] = [:]
        for try await (state, count) in try await database.client.query("SELECT state, count(*)::int FROM jobs GROUP BY state").decode((String, Int).self) {
            counts[state] = count
        }
        XCTAssertEqual(counts, ["done": 300])
        var attempts = 0
        for try await value in try await database.client.query("SELECT max(attempts) FROM jobs").decode(Int.self) { attempts = value }
        XCTAssertEqual(attempts, 1)
    }

    /// A worker that stops renewing loses the job to another once the lease expires; its late calls are refused.
    func testAnExpiredLeaseIsReclaimedAndTheOldHolderFenced() async throws {
        let (_, queue) = try await emptyQueue()
        let id = try await queue.enqueue(NewJob(kind: "slow"))
        let first = try await unwrap(try await queue.claim(worker: "a", kinds: ["slow"], lease: 0.5))
        XCTAssertEqual(first.id, id)
        await assertNil(try await queue.claim(worker: "b", kinds: ["slow"], lease: 30), "a live lease was taken")
        await assertTrue(try await queue.renew(first.lease, for: 0.5))

        try await Task.sleep(for: .milliseconds(700))
        let second = try await unwrap(try await queue.claim(worker: "b", kinds: ["slow"], lease: 30))
        XCTAssertEqual(second.id, id)
        XCTAssertEqual(second.attempt, 2)

        await assertFalse(try await queue.renew(first.lease, for: 30), "renew after the lease was lost")
        do {
            try await queue.complete(first.lease)
            XCTFail("the old holder completed a job it no longer holds")
        } catch let error as JobQueueError {
            XCTAssertEqual(error, .leaseLost(jobID: id))
        }
        try await queue.complete(second.lease)
    }

    /// A job whose lease expires on its last attempt goes to the dead-letter state, not round again.
    func testALeaseExpiringOnTheLastAttemptKillsTheJob() async throws {
        let (database, queue) = try await emptyQueue()
        let id = try await queue.enqueue(NewJob(kind: "crashy", maxAttempts: 1))
        _ = try await unwrap(try await queue.claim(worker: "a", kinds: ["crashy"], lease: 0.2))
        try await Task.sleep(for: .milliseconds(400))
        await assertNil(try await queue.claim(worker: "b", kinds: ["crashy"], lease: 30))
        await assertEqual(try await state(of: id, in: database).0, "dead")
        await assertEqual(try await queue.deadJobs().first?.id, id)
    }

    /// Failures back off 2^attempts seconds; after max_attempts the job is dead, listed, and can be requeued.
    func testBackoffDeadLetterAndRequeue() async throws {
        let (database, queue) = try await emptyQueue()
        let id = try await queue.enqueue(NewJob(kind: "flaky", payloadJSON: #"{"file": 1}"#, maxAttempts: 2))
        let first = try await unwrap(try await queue.claim(worker: "a", kinds: ["flaky"], lease: 30))
        XCTAssertEqual(first.payloadJSON, #"{"file": 1}"#)
        try await queue.fail(first.lease, error: "PACS refused")
        let (state, attempts, due) = try await state(of: id, in: database)
        XCTAssertEqual(state, "queued")
        XCTAssertEqual(attempts, 1)
        XCTAssertEqual(due, 2, accuracy: 0.5, "back-off after the first failure is 2 s")
        await assertNil(try await queue.claim(worker: "a", kinds: ["flaky"], lease: 30), "claimed before its back-off ended")

        try await database.client.query("UPDATE jobs SET run_after = now() WHERE id = \(id)")
        let second = try await unwrap(try await queue.claim(worker: "a", kinds: ["flaky"], lease: 30))
        XCTAssertEqual(second.attempt, 2)
        try await queue.fail(second.lease, error: "PACS refused again")
        await assertEqual(try await self.state(of: id, in: database).0, "dead")
        let dead = try await queue.deadJobs()
        XCTAssertEqual(dead.map(\.id), [id])
        XCTAssertEqual(dead.first?.lastError, "PACS refused again")
        await assertNil(try await queue.claim(worker: "a", kinds: ["flaky"], lease: 30), "a dead job was claimed")

        try await queue.requeue(deadJob: id)
        let third = try await unwrap(try await queue.claim(worker: "a", kinds: ["flaky"], lease: 30))
        XCTAssertEqual(third.attempt, 1)
        try await queue.complete(third.lease)
        await assertEqual(try await queue.deadJobs(), [])
        do {
            try await queue.requeue(deadJob: id)
            XCTFail("a done job was requeued")
        } catch let error as JobQueueError {
            XCTAssertEqual(error, .notDead(jobID: id))
        }
    }

    func testAPermanentFailureIsDeadAtOnceAndBackoffIsCapped() async throws {
        let (database, queue) = try await emptyQueue()
        let id = try await queue.enqueue(NewJob(kind: "bad", maxAttempts: 5))
        let job = try await unwrap(try await queue.claim(worker: "a", kinds: ["bad"], lease: 30))
        try await queue.fail(job.lease, error: "not DICOM", permanent: true)
        await assertEqual(try await state(of: id, in: database).0, "dead")

        let capped = try await queue.enqueue(NewJob(kind: "bad", maxAttempts: 100))
        try await database.client.query("UPDATE jobs SET attempts = 20 WHERE id = \(capped)")
        let again = try await unwrap(try await queue.claim(worker: "a", kinds: ["bad"], lease: 30))
        try await queue.fail(again.lease, error: "still failing")
        let backoff = try await state(of: capped, in: database).2
        XCTAssertEqual(backoff, Double(JobQueue.maximumBackoffSeconds), accuracy: 1)
    }

    /// An idle worker waiting on the wake-up stream hears of a job enqueued in another transaction, at commit.
    func testNotifyWakesAnIdleWorker() async throws {
        let (database, queue) = try await emptyQueue()
        var wakeUps = queue.wakeUps(pollInterval: .seconds(600)).makeAsyncIterator()
        let listening = await wakeUps.next()
        XCTAssertEqual(listening, .listening)

        let started = ContinuousClock.now
        try await database.transaction { connection in
            try await queue.enqueue(NewJob(kind: "ingest"), on: connection)
        }
        let woken = await wakeUps.next()
        XCTAssertEqual(woken, .enqueued(kind: "ingest"))
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        _ = try await unwrap(try await queue.claim(worker: "w", kinds: ["ingest"], lease: 30))
    }

    func testANotificationIsNotSentForARolledBackEnqueue() async throws {
        let (database, queue) = try await emptyQueue()
        var wakeUps = queue.wakeUps(pollInterval: .milliseconds(1500)).makeAsyncIterator()
        let listening = await wakeUps.next()
        XCTAssertEqual(listening, .listening)
        struct Abort: Error {}
        do {
            try await database.transaction { connection in
                try await queue.enqueue(NewJob(kind: "never"), on: connection)
                throw Abort()
            }
        } catch is Abort {}
        let next = await wakeUps.next()
        XCTAssertEqual(next, .poll, "a rolled-back enqueue woke a worker")
        await assertNil(try await queue.claim(worker: "w", lease: 30))
    }
}
