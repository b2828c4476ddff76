import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PortalPKI
import XCTest

/// The edge link's CA: its files checked with the real `openssl`, and real mutual TLS on 127.0.0.1 between core's
/// client configuration and a server configured as the edge configures its link listener.
final class EdgeLinkAuthorityTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    private var linkDirectory: String { directory.path + "/pki/edge-link" }
    private var edgeDirectory: String { directory.path + "/edge-link-files" }

    func testCoreCertificateIsAClientCertificateOfTheLinkCA() throws {
        let authority = try EdgeLinkAuthority.openOrCreate(directory: linkDirectory, organization: "St Example Hospital")
        let core = try authority.coreCredentials()
        XCTAssertEqual(core.certificatePath, linkDirectory + "/core.crt")
        let verify = try openssl(["verify", "-CAfile", linkDirectory + "/ca.crt", "-purpose", "sslclient", core.certificatePath])
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertNotEqual(try openssl(["verify", "-CAfile", linkDirectory + "/ca.crt", "-purpose", "sslserver", core.certificatePath]).status, 0)
        let text = try openssl(["x509", "-noout", "-text", "-in", core.certificatePath]).output
        XCTAssertTrue(text.contains("dicom-portal core"), text)
        XCTAssertTrue(text.contains("TLS Web Client Authentication"), text)
        let ca = try openssl(["x509", "-noout", "-subject", "-in", linkDirectory + "/ca.crt"]).output
        XCTAssertTrue(ca.contains("St Example Hospital edge link CA"), ca)
        try assertFileMode(linkDirectory + "/ca.key", 0o600)
        try assertFileMode(core.keyPath, 0o600)

        // Loaded, not re-issued, while valid; the CA is the same one.
        let again = try EdgeLinkAuthority.openOrCreate(directory: linkDirectory, organization: "Other")
        XCTAssertEqual(again.certificate, authority.certificate)
        XCTAssertEqual(try again.coreCredentials().certificate, core.certificate)
    }

    func testCoreCertificateIsRenewedNearItsEnd() throws {
        let issuedAt = Date()
        let early = try EdgeLinkAuthority.openOrCreate(directory: linkDirectory, organization: "H", now: { issuedAt })
        let first = try early.coreCredentials()
        let late = try EdgeLinkAuthority.openOrCreate(directory: linkDirectory, organization: "H",
                                                      now: { issuedAt + EdgeLinkAuthority.validity - 10 * 86400 })
        XCTAssertNotEqual(try late.coreCredentials().certificate.serialNumber, first.certificate.serialNumber)
    }

    func testProvisionWritesTheEdgeServerFiles() throws {
        let authority = try EdgeLinkAuthority.openOrCreate(directory: linkDirectory, organization: "St Example Hospital")
        let issued = try authority.provisionEdge(hosts: ["edge.example.org", "127.0.0.1"], outputDirectory: edgeDirectory)
        XCTAssertEqual(issued.certificatePath, edgeDirectory + "/link.crt")
        let verify = try openssl(["verify", "-CAfile", edgeDirectory + "/link-ca.crt", "-purpose", "sslserver", issued.certificatePath])
        XCTAssertEqual(verify.status, 0, verify.output)
        let text = try openssl(["x509", "-noout", "-text", "-in", issued.certificatePath]).output
        for expected in ["DNS:edge.example.org", "IP Address:127.0.0.1", "TLS Web Server Authentication", "CA:FALSE"] {
            XCTAssertTrue(text.contains(expected), "missing \(expected) in\n\(text)")
        }
        XCTAssertEqual(try String(contentsOfFile: edgeDirectory + "/link-ca.crt", encoding: .utf8),
                       try String(contentsOfFile: linkDirectory + "/ca.crt", encoding: .utf8))
        try assertFileMode(issued.keyPath, 0o600)
        XCTAssertFalse(FileManager.default.fileExists(atPath: linkDirectory + "/link.key"), "the edge's key stays out of core's state")
        XCTAssertThrowsError(try authority.provisionEdge(hosts: ["bad host"], outputDirectory: edgeDirectory + "-2")) {
            XCTAssertEqual($0 as? PKIError, .invalidServerName("bad host"))
        }
    }

    func testCoreReachesTheEdgeOverMutualTLS() async throws {
        let authority = try EdgeLinkAuthority.openOrCreate(directory: linkDirectory, organization: "St Example Hospital")
        _ = try authority.provisionEdge(hosts: ["localhost", "127.0.0.1"], outputDirectory: edgeDirectory)
        let server = try await LinkServer(tls: try EdgeLinkTLS.serverConfiguration(
            certificate: edgeDirectory + "/link.crt", key: edgeDirectory + "/link.key", caFile: edgeDirectory + "/link-ca.crt"))
        do {
            let status = try await get("https://127.0.0.1:\(server.port)/", tls: try authority.clientTLSConfiguration())
            XCTAssertEqual(status, 200)
            try await server.stop()
        } catch {
            try await server.stop()
            throw error
        }
    }

    /// A kiosk certificate (the kiosks' CA) never opens the link, and core trusts no edge certificate but the link CA's.
    func testOnlyTheLinkCAIsTrustedEitherWay() async throws {
        let link = try EdgeLinkAuthority.openOrCreate(directory: linkDirectory, organization: "H")
        _ = try link.provisionEdge(hosts: ["127.0.0.1"], outputDirectory: edgeDirectory)
        let kiosks = try PortalAuthority.openOrCreate(directory: directory.path + "/pki", organization: "H")
        _ = try kiosks.issueKiosk(name: "desk-1", outputDirectory: directory.path + "/kiosk")
        let server = try await LinkServer(tls: try EdgeLinkTLS.serverConfiguration(
            certificate: edgeDirectory + "/link.crt", key: edgeDirectory + "/link.key", caFile: edgeDirectory + "/link-ca.crt"))
        let kioskTLS = try KioskTLS.clientConfiguration(certificate: directory.path + "/kiosk/kiosk.crt", key: directory.path + "/kiosk/kiosk.key",
                                                        caFile: edgeDirectory + "/link-ca.crt")
        var refused = false
        do { _ = try await get("https://127.0.0.1:\(server.port)/", tls: kioskTLS) } catch { refused = true }
        XCTAssertTrue(refused, "a kiosk certificate opened the link")

        // An edge certificate for another host name is refused by core (the name is checked).
        let other = directory.path + "/other"
        _ = try link.provisionEdge(hosts: ["edge.example.org"], outputDirectory: other)
        let misnamed = try await LinkServer(tls: try EdgeLinkTLS.serverConfiguration(
            certificate: other + "/link.crt", key: other + "/link.key", caFile: other + "/link-ca.crt"))
        refused = false
        do { _ = try await get("https://127.0.0.1:\(misnamed.port)/", tls: try link.clientTLSConfiguration()) } catch { refused = true }
        XCTAssertTrue(refused, "core accepted an edge certificate for another name")
        try await server.stop()
        try await misnamed.stop()
    }

    private func get(_ url: String, tls: TLSConfiguration) async throws -> UInt {
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1024)
            try await client.shutdown()
            return response.status.code
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func assertFileMode(_ path: String, _ mode: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, mode, path, file: file, line: line)
    }
}

/// An HTTPS server on 127.0.0.1 answering 200 to anything, with the TLS configuration under test.
private final class LinkServer: Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    init(tls: TLSConfiguration) async throws {
        let context = try NIOSSLContext(configuration: tls)
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    let pipeline = child.pipeline.syncOperations
                    try pipeline.addHandler(NIOSSLServerHandler(context: context))
                    try pipeline.configureHTTPServerPipeline()
                    try pipeline.addHandler(OK())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async throws { try await channel.close() }
}

private final class OK: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: "0")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
