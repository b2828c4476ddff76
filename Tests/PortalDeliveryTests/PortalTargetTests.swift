import Crypto
import Foundation
import PortalPKI
import PortalProtocol
import SessionReport
import TestSupport
import Uploads
import XCTest
@testable import Delivery

/// The kiosk's portal destination against a real tus server behind real mutual TLS: uploads byte for byte with
/// their metadata, resuming after a cut without a second upload, a forgotten upload replaced, 413 and a refused
/// certificate, and the signed manifest's outbox.
final class PortalTargetTests: XCTestCase {
    private var server: PortalTestServer!
    private var spoolDirectory: TestSupport.TemporaryDirectory!

    override func setUp() async throws {
        spoolDirectory = try TestSupport.TemporaryDirectory("portal-spool")
    }

    override func tearDown() async throws {
        await server?.shutdown()
        spoolDirectory?.cleanUp()
    }

    private func start(maxSize: Int64 = 64 << 20) async throws {
        server = try await PortalTestServer(maxSize: maxSize)
    }

    /// A spool with the test's tiny backoff: a retried instance is due again almost at once.
    private func openSpool() throws -> Spool {
        try Spool(directory: spoolDirectory.url, backoff: Spool.Backoff(base: 0.01, maximum: 0.02))
    }

    /// Small chunks, so a few hundred KiB are many PATCHes.
    private func target(chunk: Int = 64 << 10) throws -> PortalTarget {
        var target = try PortalTarget(destination: server.destination, credentials: try server.credentials())
        var settings = target.settings
        settings.chunkBytes = chunk
        target = PortalTarget(destination: target.destination, settings: settings)
        return target
    }

    @discardableResult
    private func spool(_ spool: Spool, sop: String, session: String = "s-1", bytes: [UInt8]) throws -> [UInt8] {
        let sink = spool.sink(destination: server.destination)
        let instance = AdmittedInstance(sopInstanceUID: sop, sopClassUID: "1.2.840.10008.5.1.4.1.1.7",
                                        transferSyntaxUID: "1.2.840.10008.1.2.1", studyInstanceUID: "1.2.3",
                                        seriesInstanceUID: "1.2.3.4", sessionID: session)
        let staged = try sink.stage(instance) { write in try bytes.withUnsafeBytes { try write($0) } }
        XCTAssertEqual(try sink.commit([staged]), [.queued])
        return bytes
    }

    private func row(_ spool: Spool, _ sop: String) throws -> SpooledInstance {
        try XCTUnwrap(try spool.instances(destination: server.destination).first { $0.sopInstanceUID == sop })
    }

    private func metadata(_ record: UploadRecord) -> [String: String] {
        Dictionary(uniqueKeysWithValues: record.metadata.map { ($0.key, $0.value.map { String(decoding: $0, as: UTF8.self) } ?? "") })
    }

    func testInstancesArriveByteIdenticalWithTheirMetadata() async throws {
        try await start()
        let spool = try openSpool()
        let sent = [
            "1.2.3.4.1": try self.spool(spool, sop: "1.2.3.4.1", bytes: randomBytes(300_000)),
            "1.2.3.4.2": try self.spool(spool, sop: "1.2.3.4.2", bytes: randomBytes(65_536)),
            "1.2.3.4.3": try self.spool(spool, sop: "1.2.3.4.3", session: "s-2", bytes: randomBytes(17)),
        ]
        let target = try target()
        let claimed = try await SpoolDrainer(spool: spool, target: target).drainOnce()
        XCTAssertEqual(claimed, 3)
        for sop in sent.keys {
            let row = try self.row(spool, sop)
            XCTAssertEqual(row.state, .stored, row.lastError ?? "")
        }
        let uploads = try await server.uploads()
        XCTAssertEqual(uploads.count, 3)
        for upload in uploads {
            let fields = metadata(upload.record)
            let sop = try XCTUnwrap(fields["sop-instance-uid"])
            let bytes = try XCTUnwrap(sent[sop])
            XCTAssertEqual(upload.record.offset, Int64(bytes.count))
            XCTAssertEqual(sha256Hex(upload.bytes), sha256Hex(bytes), "the staged bytes are the spooled file's")
            XCTAssertEqual(fields["sha256"], sha256Hex(bytes))
            XCTAssertEqual(fields["session"], sop == "1.2.3.4.3" ? "s-2" : "s-1")
            XCTAssertEqual(fields["filename"], "\(sop).dcm")
        }
        // 300,000 bytes in 64 KiB chunks is 5 PATCHes, 65,536 one, 17 one.
        XCTAssertEqual(server.count("POST"), 3)
        XCTAssertEqual(server.count("PATCH"), 7)
        XCTAssertEqual(server.count("HEAD"), 0)

        let answer = try await target.verify()
        XCTAssertTrue(answer.contains("127.0.0.1:\(server.port)") && answer.contains("kiosk-1") && answer.contains("dicom-portal core (test)"), answer)
    }

    /// The server stops taking chunks part-way (as if it went away), the agent "restarts" (a new spool and target
    /// over the same directory): the next attempt asks HEAD, continues at the server's offset, creates nothing new.
    func testACutUploadResumesAtTheServersOffsetWithoutASecondUpload() async throws {
        try await start()
        var spool = try openSpool()
        let bytes = try self.spool(spool, sop: "1.2.3.5.1", bytes: randomBytes(1_000_000))
        server.patchLimit.withLock { $0 = 5 }
        try await SpoolDrainer(spool: spool, target: try target()).drainOnce()
        var row = try self.row(spool, "1.2.3.5.1")
        XCTAssertEqual(row.state, .pending)
        XCTAssertTrue(row.lastError?.contains("HTTP 503") == true, row.lastError ?? "")
        let partial = try await server.uploads()
        XCTAssertEqual(partial.count, 1)
        XCTAssertEqual(partial.first?.record.offset, 5 * 65_536, "five chunks landed before the cut")

        server.patchLimit.withLock { $0 = nil }
        spool = try openSpool()
        try await Task.sleep(nanoseconds: 50_000_000)    // the backoff
        try await SpoolDrainer(spool: spool, target: try target()).drainOnce()
        row = try self.row(spool, "1.2.3.5.1")
        XCTAssertEqual(row.state, .stored, row.lastError ?? "")
        XCTAssertEqual(server.count("POST"), 1, "no second upload")
        XCTAssertEqual(server.count("HEAD"), 1)
        XCTAssertEqual(server.count("PATCH"), 6 + 11, "five chunks, the refused sixth, then the remaining eleven")
        let uploads = try await server.uploads()
        XCTAssertEqual(uploads.count, 1)
        XCTAssertEqual(sha256Hex(try XCTUnwrap(uploads.first).bytes), sha256Hex(bytes))
    }

    /// The client's task is cancelled in the middle of a PATCH (the agent stopping): the next drain resumes.
    func testACancelledDrainResumes() async throws {
        try await start()
        let spool = try openSpool()
        let bytes = try self.spool(spool, sop: "1.2.3.6.1", bytes: randomBytes(4 << 20))
        let target = try target(chunk: 256 << 10)
        let server = server!
        server.patchDelay.withLock { $0 = 50_000_000 }    // 16 chunks take over 0.8 s: the cancel lands mid-upload
        let drain = Task { try await SpoolDrainer(spool: spool, target: target).drainOnce() }
        try await waitUntil { server.count("PATCH") >= 3 }
        drain.cancel()
        _ = try await drain.value
        let row = try self.row(spool, "1.2.3.6.1")
        XCTAssertNotEqual(row.state, .stored, "cancelled before the last of 16 chunks")
        XCTAssertEqual(row.state, .pending)

        server.patchDelay.withLock { $0 = 0 }
        try await Task.sleep(nanoseconds: 50_000_000)
        try await SpoolDrainer(spool: spool, target: try self.target(chunk: 256 << 10)).drain(deadline: { Date() + 30 })
        XCTAssertEqual(try self.row(spool, "1.2.3.6.1").state, .stored)
        XCTAssertEqual(server.count("POST"), 1, "no second upload")
        XCTAssertGreaterThanOrEqual(server.count("HEAD"), 1)
        let uploads = try await server.uploads()
        XCTAssertEqual(uploads.count, 1)
        XCTAssertEqual(sha256Hex(try XCTUnwrap(uploads.first).bytes), sha256Hex(bytes))
    }

    /// The server forgot the remembered upload (expired and swept): HEAD answers 404 and a fresh one is made.
    func testAForgottenUploadIsStartedAfresh() async throws {
        try await start()
        let spool = try openSpool()
        let bytes = try self.spool(spool, sop: "1.2.3.7.1", bytes: randomBytes(200_000))
        server.patchLimit.withLock { $0 = 1 }
        try await SpoolDrainer(spool: spool, target: try target()).drainOnce()
        let ledger = try PortalUploadLedger(spoolDirectory: spoolDirectory.url)
        let remembered = try XCTUnwrap(try ledger.entries(destination: server.destination)["1.2.3.7.1"])
        let before = try await server.uploads()
        let first = try XCTUnwrap(before.first).record
        XCTAssertTrue(remembered.url.hasSuffix("/uploads/\(first.id)"), remembered.url)
        try await server.registry.delete(first.id)
        try await server.fileStore.remove(first.id)

        server.patchLimit.withLock { $0 = nil }
        try await Task.sleep(nanoseconds: 50_000_000)
        try await SpoolDrainer(spool: spool, target: try target()).drainOnce()
        XCTAssertEqual(try self.row(spool, "1.2.3.7.1").state, .stored)
        XCTAssertEqual(server.count("HEAD"), 1)
        XCTAssertEqual(server.count("POST"), 2, "a fresh upload after the 404")
        let uploads = try await server.uploads()
        XCTAssertEqual(uploads.count, 1)
        XCTAssertNotEqual(uploads.first?.record.id, first.id)
        XCTAssertEqual(sha256Hex(try XCTUnwrap(uploads.first).bytes), sha256Hex(bytes))
    }

    /// A chunk whose checksum does not match (460) is dropped by the server; the next attempt resumes before it.
    func testAChecksumMismatchIsRetriedFromTheLastGoodChunk() async throws {
        try await start()
        let spool = try openSpool()
        let bytes = try self.spool(spool, sop: "1.2.3.7.5", bytes: randomBytes(250_000))
        server.corruptPatch.withLock { $0 = 2 }
        try await SpoolDrainer(spool: spool, target: try target()).drainOnce()
        let cut = try self.row(spool, "1.2.3.7.5")
        XCTAssertEqual(cut.state, .pending)
        XCTAssertTrue(cut.lastError?.contains("HTTP 460") == true, cut.lastError ?? "")
        let partial = try await server.uploads()
        XCTAssertEqual(partial.first?.record.offset, 65_536, "the damaged second chunk was not kept")

        try await Task.sleep(nanoseconds: 50_000_000)
        try await SpoolDrainer(spool: spool, target: try target()).drainOnce()
        XCTAssertEqual(try self.row(spool, "1.2.3.7.5").state, .stored)
        XCTAssertEqual(server.count("POST"), 1)
        let uploads = try await server.uploads()
        XCTAssertEqual(uploads.count, 1)
        XCTAssertEqual(sha256Hex(try XCTUnwrap(uploads.first).bytes), sha256Hex(bytes))
    }

    /// The spool now holds other bytes under the UID (a later session's copy): the half-sent upload of the old
    /// bytes is terminated and the new bytes go in a fresh upload, never appended to the old one.
    func testOtherBytesUnderTheSameUIDStartAFreshUpload() async throws {
        try await start()
        let spool = try openSpool()
        try self.spool(spool, sop: "1.2.3.7.9", bytes: randomBytes(200_000))
        server.patchLimit.withLock { $0 = 1 }
        try await SpoolDrainer(spool: spool, target: try target()).drainOnce()
        XCTAssertEqual(try self.row(spool, "1.2.3.7.9").state, .pending)

        server.patchLimit.withLock { $0 = nil }
        let copy = try self.spool(spool, sop: "1.2.3.7.9", session: "s-3", bytes: randomBytes(150_000))
        try await SpoolDrainer(spool: spool, target: try target()).drainOnce()
        XCTAssertEqual(try self.row(spool, "1.2.3.7.9").state, .stored)
        XCTAssertEqual(server.count("DELETE"), 1, "the old upload is terminated")
        XCTAssertEqual(server.count("POST"), 2)
        let uploads = try await server.uploads()
        XCTAssertEqual(uploads.count, 1)
        XCTAssertEqual(sha256Hex(try XCTUnwrap(uploads.first).bytes), sha256Hex(copy))
        XCTAssertEqual(metadata(try XCTUnwrap(uploads.first).record)["session"], "s-3")
    }

    func testAnInstanceLargerThanThePortalTakesFailsForGood() async throws {
        try await start(maxSize: 100_000)
        let spool = try openSpool()
        try self.spool(spool, sop: "1.2.3.8.1", bytes: randomBytes(100_001))
        try self.spool(spool, sop: "1.2.3.8.2", bytes: randomBytes(100_000))
        try await SpoolDrainer(spool: spool, target: try target()).drainOnce()
        let large = try self.row(spool, "1.2.3.8.1")
        XCTAssertEqual(large.state, .failed)
        XCTAssertEqual(large.failureCode, FindingCode.deliveryTooLarge.rawValue)
        XCTAssertTrue(large.lastError?.contains("HTTP 413") == true, large.lastError ?? "")
        XCTAssertEqual(try self.row(spool, "1.2.3.8.2").state, .stored)
    }

    /// A revoked kiosk: the handshake is refused, the instance waits, and the error says why in words.
    func testARefusedCertificateIsRetriedWithAClearMessage() async throws {
        try await start()
        let spool = try openSpool()
        try self.spool(spool, sop: "1.2.3.9.1", bytes: randomBytes(1000))
        server.revoked.withLock { _ = $0.insert(server.kiosk.serial) }
        let target = try target()
        try await SpoolDrainer(spool: spool, target: target).drainOnce()
        let row = try self.row(spool, "1.2.3.9.1")
        XCTAssertEqual(row.state, .pending)
        XCTAssertTrue(row.lastError?.contains("refused the kiosk's certificate") == true, row.lastError ?? "")
        XCTAssertEqual(server.count("POST"), 0)
        do {
            _ = try await target.verify()
            XCTFail("a revoked kiosk was answered")
        } catch {
            XCTAssertTrue("\(error)".contains("refused the kiosk's certificate"), "\(error)")
        }
    }

    // MARK: manifests

    private func report() -> Report {
        var report = Report(source: .init(path: "/dev/sr0", filesystem: "iso9660", label: "CD"),
                            expectedPatient: .init(id: "X-1", name: "Doe^Jane", birthDate: "19700101"))
        report.totals.files = 2
        return report
    }

    func testTheManifestIsSignedSentOnceAndKeptUntilStored() async throws {
        try await start()
        let spool = try openSpool()
        let bytes = try self.spool(spool, sop: "1.2.4.1", bytes: randomBytes(5000))
        let target = try target()
        let credentials = try server.credentials()
        XCTAssertEqual(credentials.name, "kiosk-1")
        let manifest = try KioskManifest.build(session: "s-1", report: report(), spool: spool, destination: target.destination,
                                                 kiosk: credentials.name, operatorName: "alice", audit: ["{\"type\":\"session.start\"}"])
        XCTAssertEqual(manifest.instances, [.init(sopInstanceUID: "1.2.4.1", sha256: sha256Hex(bytes), size: 5000)])
        try PortalManifests(spoolDirectory: spoolDirectory.url).enqueue(manifest)

        // The portal is unreachable: the manifest stays.
        server.revoked.withLock { _ = $0.insert(server.kiosk.serial) }
        let refused = await target.sendPendingManifests(try PortalManifests(spoolDirectory: spoolDirectory.url))
        guard case .pending(session: "s-1", let why) = refused.first else { return XCTFail("\(refused)") }
        XCTAssertTrue(why.contains("refused the kiosk's certificate"), why)
        server.revoked.withLock { $0.removeAll() }

        // A "restart": a new outbox over the same directory still holds it.
        let outbox = try PortalManifests(spoolDirectory: spoolDirectory.url)
        XCTAssertEqual(try outbox.pending(), ["s-1"])
        let sent = await target.sendPendingManifests(outbox)
        XCTAssertEqual(sent, [.sent(session: "s-1", status: 201)])
        XCTAssertEqual(try outbox.pending(), [])
        let stored = try XCTUnwrap(server.manifests.withLock { $0["s-1"] })
        XCTAssertEqual(try KioskManifest.decode(stored), manifest)
        XCTAssertEqual(try KioskManifest.decode(stored).kiosk, "kiosk-1")

        // The same bytes again (sent, then the agent stopped before removing them): 200, removed.
        try outbox.enqueue(manifest)
        let again = await target.sendPendingManifests(outbox)
        XCTAssertEqual(again, [.sent(session: "s-1", status: 200)])

        // Different bytes for a session core already holds: 409, kept aside with the answer.
        var changed = manifest
        changed.operatorName = "bob"
        try outbox.enqueue(changed)
        let conflict = await target.sendPendingManifests(outbox)
        guard case .refused(session: "s-1", let code, _) = conflict.first else { return XCTFail("\(conflict)") }
        XCTAssertEqual(code, .deliveryManifestConflict)
        XCTAssertEqual(try outbox.pending(), [])
        let failed = try outbox.failed()
        XCTAssertEqual(failed.map(\.session), ["s-1"])
        XCTAssertTrue(failed.first?.reason.contains("HTTP 409") == true, failed.first?.reason ?? "")
        let none = await target.sendPendingManifests(outbox)
        XCTAssertEqual(none, [], "a refused manifest is not sent again")
    }

    func testTheSignatureVerifiesWithTheCertificatesKey() throws {
        let directory = try TestSupport.TemporaryDirectory("portal-signature")
        let authority = try PortalAuthority.openOrCreate(directory: directory.path("ca"), organization: "St Example Hospital")
        _ = try authority.issueKiosk(name: "kiosk-9", outputDirectory: directory.path("kiosk"))
        let credentials = try KioskCredentials(certificate: directory.path("kiosk/kiosk.crt"), key: directory.path("kiosk/kiosk.key"),
                                               caFile: directory.path("kiosk/portal-ca.crt"))
        let body = Data("{\"schema\":\"x\"}".utf8)
        let signature = try ManifestSignature.sign(body, with: try credentials.signingKey())
        XCTAssertNoThrow(try ManifestSignature.verify(body, signature: signature, publicKey: try credentials.publicKey()))
        XCTAssertThrowsError(try ManifestSignature.verify(body + [0x20], signature: signature, publicKey: try credentials.publicKey()))
        // Another kiosk's key with this certificate is refused when the credentials are read.
        _ = try authority.issueKiosk(name: "kiosk-8", outputDirectory: directory.path("other"))
        XCTAssertThrowsError(try KioskCredentials(certificate: directory.path("kiosk/kiosk.crt"), key: directory.path("other/kiosk.key"),
                                                  caFile: directory.path("kiosk/portal-ca.crt"))) { error in
            XCTAssertTrue("\(error)".contains("does not belong to the certificate"), "\(error)")
        }
    }

    /// Every instance was rejected at the desk: nothing to upload, yet the drain loop delivers the manifest.
    func testTheDrainSendsAManifestWithNoInstancesToUpload() async throws {
        try await start()
        let spool = try openSpool()
        let target = try target()
        let manifest = try KioskManifest.build(session: "s-9", report: report(), spool: spool, destination: target.destination,
                                                 kiosk: "kiosk-1", operatorName: "cli")
        XCTAssertEqual(manifest.instances, [])
        try PortalManifests(spoolDirectory: spoolDirectory.url).enqueue(manifest)
        try await SpoolDrainer(spool: spool, target: target).drain(deadline: { Date() })
        XCTAssertNotNil(server.manifests.withLock { $0["s-9"] })
        XCTAssertEqual(try PortalManifests(spoolDirectory: spoolDirectory.url).pending(), [])
        XCTAssertEqual(server.count("POST"), 0)
    }

    func testDestinationURLs() throws {
        XCTAssertEqual(try PortalTarget.baseURL(of: "portal+https://portal.example:8480").absoluteString, "https://portal.example:8480")
        XCTAssertEqual(try PortalTarget.baseURL(of: "portal+https://portal.example:8480/").absoluteString, "https://portal.example:8480")
        XCTAssertEqual(try PortalTarget.baseURL(of: "portal+https://10.0.0.7").absoluteString, "https://10.0.0.7")
        for bad in ["portal+http://portal.example:8480", "portal+https://kiosk:secret@portal.example:8480",
                    "portal+https://portal.example:8480/api", "portal+https://portal.example:8480/?x=1",
                    "portal+https://portal.example:8480#top", "portal+https://", "portal+https://portal.example:0"] {
            XCTAssertThrowsError(try PortalTarget.baseURL(of: bad), bad)
        }
    }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
    SHA256.hash(data: Array(bytes)).map { String(format: "%02x", $0) }.joined()
}

/// Polls `condition` every 10 ms for up to 10 s.
func waitUntil(_ condition: @Sendable () -> Bool) async throws {
    for _ in 0..<1000 {
        if condition() { return }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
    XCTFail("timed out waiting")
}
