import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import PortalPKI
import XCTest

/// Real mutual TLS on 127.0.0.1: the server verifies kiosks with ``KioskVerifier``, kiosks connect with
/// AsyncHTTPClient configured by ``KioskTLS``.
final class MutualTLSTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var authority: PortalAuthority!
    private var kioskA: IssuedKiosk!
    private var kioskB: IssuedKiosk!
    private var revoked: RevokedSerials!
    private var rejections: RejectionLog!
    private var server: KioskEchoServer!

    override func setUp() async throws {
        directory = try TemporaryDirectory()
        authority = try PortalAuthority.openOrCreate(directory: directory.path + "/ca", organization: "St Example Hospital")
        kioskA = try authority.issueKiosk(name: "kiosk-a", outputDirectory: directory.path + "/a")
        kioskB = try authority.issueKiosk(name: "kiosk-b", outputDirectory: directory.path + "/b")
        let revoked = RevokedSerials()
        let rejections = RejectionLog()
        self.revoked = revoked
        self.rejections = rejections
        let verifier = try KioskVerifier(
            authority: authority.certificate,
            isRevoked: { revoked.contains($0) },
            onRejection: { rejections.record($0) })
        server = try await KioskEchoServer(
            tls: try authority.serverTLSConfiguration(names: ["localhost", "127.0.0.1"]), verifier: verifier)
    }

    override func tearDown() async throws {
        try await server?.stop()
        directory?.remove()
    }

    private func kioskConfiguration(_ subdirectory: String) throws -> TLSConfiguration {
        let base = directory.path + "/" + subdirectory
        return try KioskTLS.clientConfiguration(
            certificate: base + "/kiosk.crt", key: base + "/kiosk.key", caFile: base + "/portal-ca.crt")
    }

    /// One request on a client of its own, so every call is a new TLS handshake.
    private func get(with tls: TLSConfiguration) async throws -> (status: UInt, body: String) {
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
        do {
            let result = try await get(on: client)
            try await client.shutdown()
            return result
        } catch {
            try await client.shutdown()
            throw error
        }
    }

    private func get(on client: HTTPClient) async throws -> (status: UInt, body: String) {
        let response = try await client.execute(HTTPClientRequest(url: "https://127.0.0.1:\(server.port)/"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1024)
        return (response.status.code, String(buffer: body))
    }

    private func assertRefused(
        _ tls: TLSConfiguration, file: StaticString = #filePath, line: UInt = #line
    ) async {
        do {
            let response = try await get(with: tls)
            XCTFail("expected the handshake to be refused, got \(response)", file: file, line: line)
        } catch {
            // The server's TLS alert (certificate unknown / required), not some other failure.
            XCTAssertTrue(error is BoringSSLError && "\(error)".contains("ALERT_CERTIFICATE"), "\(error)", file: file, line: line)
        }
    }

    func testKioskIsServedAndIdentified() async throws {
        let response = try await get(with: try kioskConfiguration("a"))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body, "kiosk-a")
        let responseB = try await get(with: try kioskConfiguration("b"))
        XCTAssertEqual(responseB.body, "kiosk-b")
        XCTAssertEqual(rejections.all, [])
    }

    func testNoClientCertificateIsRefused() async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(directory.path + "/a/portal-ca.crt")
        await assertRefused(tls)
    }

    func testCertificateFromAnotherCAIsRefused() async throws {
        let key = directory.path + "/foreign.key"
        let certificate = directory.path + "/foreign.crt"
        let made = try openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", certificate, "-days", "30", "-subj", "/CN=kiosk-a", "-addext", "extendedKeyUsage=clientAuth",
        ])
        XCTAssertEqual(made.status, 0, made.output)
        await assertRefused(
            try KioskTLS.clientConfiguration(certificate: certificate, key: key, caFile: directory.path + "/a/portal-ca.crt"))
        XCTAssertEqual(rejections.all, [.unknownAuthority(subject: "CN=kiosk-a")])
        XCTAssertEqual(rejections.all[0].description, "certificate \"CN=kiosk-a\" was not issued by this portal's CA")
    }

    func testServerCertificateIsNotAKioskCertificate() async throws {
        let credentials = try authority.serverCredentials(names: ["localhost", "127.0.0.1"])
        await assertRefused(
            try KioskTLS.clientConfiguration(
                certificate: credentials.certificatePath, key: credentials.keyPath, caFile: directory.path + "/a/portal-ca.crt"))
        guard case .wrongUsage = rejections.all.first else { return XCTFail("\(rejections.all)") }
        XCTAssertTrue(rejections.all[0].description.contains("not for client authentication"))
    }

    func testExpiredCertificateIsRefused() async throws {
        // The same CA, with a clock three years back: a two-year certificate that expired a year ago.
        let past = try PortalAuthority.openOrCreate(
            directory: directory.path + "/ca", organization: "St Example Hospital", now: { Date() - 3 * 365 * 86400 })
        let expired = try past.issueKiosk(name: "kiosk-old", outputDirectory: directory.path + "/old")
        await assertRefused(try kioskConfiguration("old"))
        XCTAssertEqual(rejections.all, [.expired(kiosk: "kiosk-old", notValidAfter: expired.notValidAfter)])
        XCTAssertTrue(rejections.all[0].description.contains("expired"))
    }

    func testRevocationRefusesNewHandshakesAtOnceAndTheRegistryCutsOpenOnes() async throws {
        let clientB = HTTPClient(
            eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: try kioskConfiguration("b")))
        do {
            let before = try await get(on: clientB)
            XCTAssertEqual(before.body, "kiosk-b")
            XCTAssertEqual(server.channels.count(serial: kioskB.serial), 1)

            revoked.revoke(kioskB.serial)
            XCTAssertEqual(server.channels.close(serial: kioskB.serial), 1)
            let channels = server.channels
            let serialB = kioskB.serial
            try await waitUntil { channels.count(serial: serialB) == 0 }
            XCTAssertEqual(server.channels.close(serial: kioskA.serial), 0)

            await assertRefused(try kioskConfiguration("b"))
            // The pooled client's connection is gone too: its next request needs a new handshake, which fails.
            do {
                _ = try await get(on: clientB)
                XCTFail("a revoked kiosk was served")
            } catch {}
            XCTAssertEqual(rejections.all.first, .revoked(kiosk: "kiosk-b", serial: kioskB.serial))
            XCTAssertEqual(rejections.all.first?.description, "certificate of kiosk kiosk-b (serial \(kioskB.serial)) is revoked")

            let stillServed = try await get(with: try kioskConfiguration("a"))
            XCTAssertEqual(stillServed.body, "kiosk-a")
            try await clientB.shutdown()
        } catch {
            try await clientB.shutdown()
            throw error
        }
    }

    private func waitUntil(_ condition: @escaping @Sendable () -> Bool) async throws {
        for _ in 0..<200 where !condition() {
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertTrue(condition())
    }
}
