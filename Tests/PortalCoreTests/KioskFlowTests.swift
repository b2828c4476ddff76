import AsyncHTTPClient
import Foundation
import NIOSSL
import PortalCore
import PortalPKI
import PortalProtocol
import PortalStore
import TestSupport
import XCTest
import PortalTestSupport

/// A kiosk's whole conversation with a real core: mutual TLS, tus uploads, the signed manifest, the commit.
final class KioskFlowTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    private var server: CoreTestServer!

    override func setUp() async throws {
        server = try await CoreTestServer(test: self)
    }

    private func client(_ kiosk: String) throws -> KioskClient {
        let client = try server.client(kiosk)
        // Registered after core's: closed before core stops, so core's graceful shutdown has no connection to wait for.
        addTeardownBlock { try? await client.shutdown() }
        return client
    }

    private func instances(_ count: Int) -> [TestInstance] {
        (1...count).map { TestInstance.random("1.2.826.0.1.\(Int.random(in: 1000...9999)).\($0)") }
    }

    func testUploadsThenManifestCommitOnce() async throws {
        let kiosk = try client("a")
        let session = "s-" + UUID().uuidString.prefix(8)
        let sent = instances(3)
        for instance in sent { try await kiosk.upload(instance, session: session) }
        await assertEqual(try await server.batchState(kiosk: kiosk.name, session: session), "open")
        let (code, before) = try await kiosk.status(session: session)
        XCTAssertEqual(code, 200)
        XCTAssertEqual(before, KioskBatchStatus(state: "open", expected: nil, received: 3))

        let manifest = try kiosk.manifest(session: session, instances: sent)
        let stored = try await kiosk.putManifest(manifest, session: session)
        XCTAssertEqual(stored.status, 201, stored.body)
        await assertEqual(try await server.batchState(kiosk: kiosk.name, session: session), "committed")
        await assertEqual(try await server.protectJobs(kiosk: kiosk.name, session: session), 1)
        let (_, after) = try await kiosk.status(session: session)
        XCTAssertEqual(after, KioskBatchStatus(state: "committed", expected: 3, received: 3))

        // The same bytes again: 200, and no second commit.
        let replay = try await kiosk.putManifest(manifest, session: session)
        XCTAssertEqual(replay.status, 200, replay.body)
        await assertEqual(try await server.protectJobs(kiosk: kiosk.name, session: session), 1)
        // Different bytes: 409.
        let other = try kiosk.manifest(session: session, instances: sent, operatorName: "op2")
        let conflict = try await kiosk.putManifest(other, session: session)
        XCTAssertEqual(conflict.status, 409, conflict.body)
        // Nothing joins a committed batch.
        let late = try await kiosk.create(TestInstance.random("1.9.9"), session: session)
        XCTAssertEqual(late.status, 409, late.body)

        await assertEqual(try await server.count("""
            SELECT count(*)::int FROM audit WHERE event_type = 'batch.committed' AND actor = \("kiosk:" + kiosk.name)
            """), 1)
        await assertEqual(try await server.count("""
            SELECT count(*)::int FROM audit WHERE event_type = 'manifest.stored' AND actor = \("kiosk:" + kiosk.name)
            """), 1)
        await assertEqual(try await AuditLog(server.database).verify(), .intact(records: try await server.count("SELECT count(*)::int FROM audit")))
    }

    /// Core stopped between recording an upload's last byte and the commit that completion would have made: the batch
    /// has its manifest and every upload, yet is open. Core's sweep (at start and on its interval) commits it.
    func testTheSweepCommitsABatchWhoseCommitWasInterrupted() async throws {
        server = try await CoreTestServer(test: self, sweepInterval: .seconds(1))
        let kiosk = try client("a")
        let session = "w-" + UUID().uuidString.prefix(8)
        let sent = instances(2)
        await assertEqual(try await kiosk.putManifest(try kiosk.manifest(session: session, instances: sent), session: session).status, 201)
        try await kiosk.upload(sent[0], session: session)
        let last = try await unwrap(try await kiosk.create(sent[1], session: session).header("Location"))
        // The completion as the registry records it, without the commit check that follows it in core.
        let id = String(last.split(separator: "/").last ?? "")
        try await server.database.client.query("""
            UPDATE uploads SET "offset" = length, state = 'complete' WHERE id = \(id)
            """)
        await assertEqual(try await server.batchState(kiosk: kiosk.name, session: session), "open")
        var state: String?
        for _ in 0..<120 where state != "committed" {
            try await Task.sleep(for: .milliseconds(250))
            state = try await server.batchState(kiosk: kiosk.name, session: session)
        }
        XCTAssertEqual(state, "committed")
        await assertEqual(try await server.protectJobs(kiosk: kiosk.name, session: session), 1)
        await assertEqual(try await server.count("""
            SELECT count(*)::int FROM audit WHERE event_type = 'batch.committed' AND actor = 'core'
            """), 1)
    }

    func testManifestFirstThenUploadsCommitOnTheLastCompletion() async throws {
        let kiosk = try client("a")
        let session = "m-" + UUID().uuidString.prefix(8)
        let sent = instances(3)
        let stored = try await kiosk.putManifest(try kiosk.manifest(session: session, instances: sent), session: session)
        XCTAssertEqual(stored.status, 201, stored.body)
        let (_, waiting) = try await kiosk.status(session: session)
        XCTAssertEqual(waiting, KioskBatchStatus(state: "open", expected: 3, received: 0))

        try await kiosk.upload(sent[0], session: session)
        // Sent in two chunks: only the chunk that completes the upload counts.
        let location = try await unwrap(try await kiosk.create(sent[1], session: session).header("Location"))
        let firstHalf = try await kiosk.patch(location, offset: 0, sent[1].bytes.prefix(1000))
        XCTAssertEqual(firstHalf.status, 204)
        try await kiosk.upload(sent[2], session: session)
        await assertEqual(try await server.batchState(kiosk: kiosk.name, session: session), "open")
        let (_, partial) = try await kiosk.status(session: session)
        XCTAssertEqual(partial, KioskBatchStatus(state: "open", expected: 3, received: 2))

        let rest = try await kiosk.patch(location, offset: 1000, sent[1].bytes.dropFirst(1000))
        XCTAssertEqual(rest.status, 204, rest.body)
        await assertEqual(try await server.batchState(kiosk: kiosk.name, session: session), "committed")
        await assertEqual(try await server.protectJobs(kiosk: kiosk.name, session: session), 1)
    }

    /// The last uploads complete at the same moment, on separate connections: one commit, one job.
    func testConcurrentLastCompletionsCommitOnce() async throws {
        let session = "c-" + UUID().uuidString.prefix(8)
        let setup = try client("a")
        let sent = instances(6)
        await assertEqual(try await setup.putManifest(try setup.manifest(session: session, instances: sent), session: session).status, 201)
        var locations: [String] = []
        for instance in sent {
            let location = try await unwrap(try await setup.create(instance, session: session).header("Location"))
            await assertEqual(try await setup.patch(location, offset: 0, instance.bytes.dropLast()).status, 204)
            locations.append(location)
        }
        let kiosks = try (0..<sent.count).map { _ in try client("a") }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, instance) in sent.enumerated() {
                let kiosk = kiosks[index]
                let location = locations[index]
                group.addTask { try await kiosk.patch(location, offset: instance.bytes.count - 1, instance.bytes.suffix(1)).status }
            }
            var all: [Int] = []
            for try await status in group { all.append(status) }
            return all
        }
        XCTAssertEqual(statuses, Array(repeating: 204, count: sent.count))
        await assertEqual(try await server.batchState(kiosk: setup.name, session: session), "committed")
        await assertEqual(try await server.protectJobs(kiosk: setup.name, session: session), 1)
    }

    func testManifestSignatureAndKioskAreChecked() async throws {
        let kiosk = try client("a")
        let session = "g-" + UUID().uuidString.prefix(8)
        let sent = instances(1)
        let manifest = try kiosk.manifest(session: session, instances: sent)

        // Signed by another key (kiosk b's): 403.
        let foreignKey = try client("b")
        let wrongKey = try await kiosk.putManifest(manifest, session: session, signature: try ManifestSignature.sign(manifest, with: foreignKey.signingKey))
        XCTAssertEqual(wrongKey.status, 403, wrongKey.body)
        // Not base64, and missing: 403.
        await assertEqual(try await kiosk.putManifest(manifest, session: session, signature: "%%%").status, 403)
        // A valid signature over a manifest that names kiosk b: 403.
        let namingB = try kiosk.manifest(session: session, instances: sent, kiosk: foreignKey.name)
        let impersonation = try await kiosk.putManifest(namingB, session: session)
        XCTAssertEqual(impersonation.status, 403, impersonation.body)
        // Signed, but not a manifest: 400.
        let garbage = Data("{\"hello\": 1}".utf8)
        await assertEqual(try await kiosk.putManifest(garbage, session: session).status, 400)
        // The path's session must be the manifest's.
        await assertEqual(try await kiosk.putManifest(manifest, session: "other-session").status, 400)
        await assertEqual(try await kiosk.putManifest(manifest, session: ".bad").status, 400)
        // Nothing was stored: the right one still goes in first time.
        await assertEqual(try await kiosk.putManifest(manifest, session: session).status, 201)
    }

    func testUploadMetadataMustNameTheSessionAndInstance() async throws {
        let kiosk = try client("a")
        let instance = TestInstance.random("1.2.3")
        let noSession = try await kiosk.create(instance, session: nil)
        XCTAssertEqual(noSession.status, 400, noSession.body)
        XCTAssertEqual(noSession.header("Tus-Resumable"), "1.0.0")
        await assertEqual(try await kiosk.create(instance, session: "../x").status, 400)
        await assertEqual(try await kiosk.create(instance, session: "ok", sha256: "ABC").status, 400)
    }

    func testAnotherKioskCannotReachAnUpload() async throws {
        let a = try client("a"), b = try client("b")
        let session = "p-" + UUID().uuidString.prefix(8)
        let instance = TestInstance.random("1.2.3.4")
        let location = try await unwrap(try await a.create(instance, session: session).header("Location"))
        await assertEqual(try await a.head(location).status, 200)
        await assertEqual(try await b.head(location).status, 404)
        await assertEqual(try await b.patch(location, offset: 0, instance.bytes).status, 404)
        await assertEqual(try await b.send(.DELETE, location, headers: [("Tus-Resumable", "1.0.0")]).status, 404)
        // b's own session of the same name is b's own batch, which a's uploads are not part of.
        let (code, _) = try await b.status(session: session)
        XCTAssertEqual(code, 404)
        await assertEqual(try await a.patch(location, offset: 0, instance.bytes).status, 204)
    }

    /// A kiosk that lost the answer to its creation asks again: the same unfinished upload is answered, so an
    /// instance stays one upload; once that upload has bytes or is complete, other uploads are new ones.
    func testARepeatedCreationAnswersTheUnfinishedUpload() async throws {
        let kiosk = try client("a")
        let session = "r-" + UUID().uuidString.prefix(8)
        let instance = TestInstance.random("1.2.3.5")
        let first = try await unwrap(try await kiosk.create(instance, session: session).header("Location"))
        let again = try await kiosk.create(instance, session: session)
        XCTAssertEqual(again.status, 201, again.body)
        XCTAssertEqual(again.header("Location"), first)
        let other = try await unwrap(try await kiosk.create(TestInstance.random("1.2.3.6"), session: session).header("Location"))
        XCTAssertNotEqual(other, first)
        await assertEqual(try await kiosk.patch(first, offset: 0, instance.bytes).status, 204)
        let afterCompletion = try await unwrap(try await kiosk.create(instance, session: session + "-b").header("Location"))
        XCTAssertNotEqual(afterCompletion, first)
        await assertEqual(try await server.count("SELECT count(*)::int FROM uploads WHERE owner = \("kiosk:" + kiosk.name)"), 3)
    }

    /// The bytes must be those the kiosk announced: an upload whose digest differs is removed, not counted. Core
    /// checks the digest it computed while receiving (one PATCH, with or without Upload-Checksum) or reads the staged
    /// bytes back (an upload sent in several PATCHes).
    func testACompletedUploadWhoseBytesDifferIsRefused() async throws {
        let kiosk = try client("a")
        let session = "d-" + UUID().uuidString.prefix(8)
        let sent = instances(1)
        await assertEqual(try await kiosk.putManifest(try kiosk.manifest(session: session, instances: sent), session: session).status, 201)
        let wrong = TestInstance(uid: sent[0].uid, bytes: sent[0].bytes.reversed())
        let location = try await kiosk.upload(wrong, session: session, sha256: sent[0].sha256)
        await assertEqual(try await kiosk.head(location).status, 404)

        let checked = try await unwrap(try await kiosk.create(wrong, session: session, sha256: sent[0].sha256).header("Location"))
        await assertEqual(try await kiosk.patch(checked, offset: 0, wrong.bytes, checksum: true).status, 204)
        await assertEqual(try await kiosk.head(checked).status, 404)

        let halves = try await unwrap(try await kiosk.create(wrong, session: session, sha256: sent[0].sha256).header("Location"))
        let half = wrong.bytes.count / 2
        await assertEqual(try await kiosk.patch(halves, offset: 0, wrong.bytes.prefix(half)).status, 204)
        await assertEqual(try await kiosk.patch(halves, offset: half, wrong.bytes.dropFirst(half)).status, 204)
        await assertEqual(try await kiosk.head(halves).status, 404)

        await assertEqual(try await server.batchState(kiosk: kiosk.name, session: session), "open")
        await assertEqual(try await server.count("SELECT count(*)::int FROM audit WHERE event_type = 'upload.refused' AND actor = \("kiosk:" + kiosk.name)"), 3)
        try await kiosk.upload(sent[0], session: session)
        await assertEqual(try await server.batchState(kiosk: kiosk.name, session: session), "committed")
    }

    func testHealth() async throws {
        let kiosk = try client("a")
        let reply = try await kiosk.send(.GET, "/healthz")
        XCTAssertEqual(reply.status, 200)
        XCTAssertEqual(reply.body, "ok\n")
    }

    /// The staged bytes are sealed with the batch key from the database: a worker elsewhere reads them back.
    func testStagedBytesDecryptWithTheBatchKeyFromTheDatabase() async throws {
        let kiosk = try client("a")
        let session = "k-" + UUID().uuidString.prefix(8)
        let instance = TestInstance.random("1.2.3.5", size: 300_000)
        let location = try await kiosk.upload(instance, session: session)
        let batch = try await unwrap(try await BatchStore(server.database).findKioskBatch(kiosk: kiosk.name, session: session))
        let store = try FileStagingStoreForTests(directory: server.directory + "/staging")
        let bytes = try await store.read(String(location.split(separator: "/").last!), key: batch.stagingKey, length: instance.bytes.count)
        XCTAssertEqual(bytes, instance.bytes)
    }
}
