import AsyncHTTPClient
import Crypto
import Foundation
import NIOSSL
import PortalCore
import PortalPKI
import PortalStore
import TestSupport
import Uploads
import XCTest
import PortalTestSupport

/// Who gets in: only kiosks with a certificate of the portal CA that the kiosks table holds and has not revoked.
final class KioskTLSTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    private var server: CoreTestServer!

    override func setUp() async throws {
        server = try await CoreTestServer(test: self)
    }

    private func assertRefused(_ tls: TLSConfiguration, file: StaticString = #filePath, line: UInt = #line) async {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        do {
            let response = try await client.execute(HTTPClientRequest(url: server.baseURL + "/healthz"), timeout: .seconds(10))
            XCTFail("expected the handshake to be refused, got \(response.status)", file: file, line: line)
        } catch {
            XCTAssertTrue(error is BoringSSLError && "\(error)".contains("ALERT_CERTIFICATE"), "\(error)", file: file, line: line)
        }
        try? await client.shutdown()
    }

    private func refusals(containing text: String) async throws -> Int {
        try await server.count("SELECT count(*)::int FROM audit WHERE event_type = 'kiosk.refused' AND detail->>'reason' LIKE \("%" + text + "%")")
    }

    func testNoClientCertificateIsRefused() async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(server.files("a").ca)
        await assertRefused(tls)
    }

    /// curl as an independent client: with the kiosk's files it is served, without a certificate it is not.
    func testCurlWithAndWithoutTheKioskCertificate() async throws {
        let files = server.files("a")
        let served = try TestSupport.run("curl", ["-sS", "--cert", files.certificate, "--key", files.key, "--cacert", files.ca,
                                                  server.baseURL + "/healthz"], check: false)
        XCTAssertEqual(served.status, 0, served.stderrText)
        XCTAssertEqual(served.stdoutText, "ok\n")
        let refused = try TestSupport.run("curl", ["-sS", "--cacert", files.ca, server.baseURL + "/healthz"], check: false)
        XCTAssertNotEqual(refused.status, 0, refused.stdoutText)
    }

    /// Revoking in the kiosks table refuses the next handshake at once; cutting the open connections is the
    /// revoker's call to `channels.close(serial:)`.
    func testARevokedKioskIsRefusedOnItsNextConnection() async throws {
        let kiosk = try server.client("b")
        let before = try await kiosk.send(.GET, "/healthz")
        XCTAssertEqual(before.status, 200)
        XCTAssertEqual(server.core.channels.count(serial: server.kioskB.serial), 1)

        await assertEqual(try await KioskRegistry(server.database).revoke(name: server.kioskB.name.value, actor: "test"), server.kioskB.serial)
        XCTAssertEqual(server.core.channels.close(serial: server.kioskB.serial), 1)
        let files = server.files("b")
        await assertRefused(try KioskTLS.clientConfiguration(certificate: files.certificate, key: files.key, caFile: files.ca))
        do {
            _ = try await kiosk.send(.GET, "/healthz")
            XCTFail("a revoked kiosk was served")
        } catch {}
        try await kiosk.shutdown()
        await assertTrue(try await self.eventually { try await self.refusals(containing: "serial \(self.server.kioskB.serial)) is revoked") >= 1 },
                         "the refusal was not audited")

        let other = try server.client("a")
        await assertEqual(try await other.send(.GET, "/healthz").status, 200)
        try await other.shutdown()
    }

    /// A revocation announced while core's listener was away (here: revoked in the table with no NOTIFY, and the
    /// listener's backend terminated) is found when the listener is back, and the open connection is cut.
    func testARevocationMissedWhileTheListenerWasAwayStillCutsTheConnection() async throws {
        let kiosk = try server.client("b")
        await assertEqual(try await kiosk.send(.GET, "/healthz").status, 200)
        XCTAssertEqual(server.core.channels.count(serial: server.kioskB.serial), 1)
        try await server.database.client.query("UPDATE kiosks SET revoked_at = now() WHERE certificate_serial = \(server.kioskB.serial)")
        try await server.database.client.query("""
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()
            """)
        let cut = try await PortalTestSupport.eventually(20) { self.server.core.channels.count(serial: self.server.kioskB.serial) == 0 }
        XCTAssertTrue(cut, "the revoked kiosk's connection is still open")
        try? await kiosk.shutdown()
        let other = try server.client("a")
        await assertEqual(try await other.send(.GET, "/healthz").status, 200)
        try await other.shutdown()
    }

    /// A certificate the CA issued but the kiosks table does not hold is refused like a revoked one.
    func testAnUnregisteredKioskIsRefused() async throws {
        _ = try server.authority.issueKiosk(name: "desk-unlisted", outputDirectory: server.directory + "/u")
        let files = server.files("u")
        await assertRefused(try KioskTLS.clientConfiguration(certificate: files.certificate, key: files.key, caFile: files.ca))
    }

    private func eventually(_ condition: @escaping () async throws -> Bool) async throws -> Bool {
        for _ in 0..<100 {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }
}

/// Reads an upload back as a worker would: with the staging key bytes from the batches table.
struct FileStagingStoreForTests {
    let store: FileStagingStore

    init(directory: String) throws { store = try FileStagingStore(directory: directory) }

    func read(_ id: String, key: Data, length: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await chunk in try await store.read(try XCTUnwrap(UploadID(id)), key: SymmetricKey(data: key), length: Int64(length)) {
            bytes += chunk.readableBytesView
        }
        return bytes
    }
}
