import AsyncHTTPClient
import Credentials
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import PortalEdge
import PortalPKI
import PortalTestSupport
import ServiceLifecycle
import Synchronization
import TestSupport
import XCTest

/// The edge in-process on loopback ports the kernel chose, with a throwaway state directory and link CA.
final class EdgeTestServer: @unchecked Sendable {
    let directory: TestSupport.TemporaryDirectory
    let clock = TestClock()
    let publicPort: Int
    let linkPort: Int
    let server: EdgeServer
    let group: ServiceGroup
    let task: Task<Void, any Error>
    /// Trusts the edge's self-signed certificate.
    let browserClient: HTTPClient
    /// Core's side of the link: a client certificate from the link CA.
    let linkClient: HTTPClient
    /// The link's CA as core keeps it (core's client credentials come from it).
    let linkAuthority: EdgeLinkAuthority
    var origin: String { "https://127.0.0.1:\(publicPort)" }
    var link: String { "https://127.0.0.1:\(linkPort)" }

    init(quota: UploadQuota = UploadQuota(), scryptCost: Int = 1 << 10) async throws {
        directory = try TestSupport.TemporaryDirectory("edge")
        // The link's files as `dicom-portal edge provision` writes them, and core's client certificate.
        let linkCA = try EdgeLinkAuthority.openOrCreate(directory: directory.path("core-pki"), organization: "Test link")
        _ = try linkCA.provisionEdge(hosts: ["127.0.0.1", "localhost"], outputDirectory: directory.path("link"))
        linkAuthority = linkCA
        let publicPort = TestSupport.freePort()
        var settings = EdgeServer.Settings(linkCertificate: directory.path("link/\(EdgeLinkAuthority.edgeCertificateFile)"),
                                           linkKey: directory.path("link/\(EdgeLinkAuthority.edgeKeyFile)"),
                                           linkCAFile: directory.path("link/\(EdgeLinkAuthority.edgeCAFile)"))
        settings.port = publicPort
        settings.linkPort = 0
        settings.hospitalName = "Test Hospital"
        settings.quota = quota
        settings.scryptCost = scryptCost
        settings.chunkSize = 256 << 10
        settings.webRoot = TestSupport.packageRoot.appendingPathComponent("Sources/Portal/PortalEdge/Web")
        var logger = Logger(label: "edge-test")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: (String, Int).self)
        let clock = clock
        server = try EdgeServer(settings: settings, stateDirectory: URL(fileURLWithPath: directory.path("state")), logger: logger,
                                now: { clock.now }, onRunning: { name, port in continuation.yield((name, port)) })
        group = ServiceGroup(services: [server], gracefulShutdownSignals: [], logger: logger)
        let group = group
        task = Task { try await group.run() }
        var found: [String: Int] = [:]
        for await (name, port) in ports {
            found[name] = port
            if found.count == 2 { break }
        }
        guard let linkPort = found["link"], found["public"] == publicPort else { throw XCTSkip("the edge did not start") }
        self.publicPort = publicPort
        self.linkPort = linkPort

        browserClient = try testHTTPClient(trusting: directory.path("state/tls/\(PortalAuthority.certificateFile)"))
        linkClient = testHTTPClient(try linkCA.clientTLSConfiguration())
    }

    func stop() async throws {
        try await browserClient.shutdown()
        try await linkClient.shutdown()
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        directory.cleanUp()
    }

    // MARK: The link, as core uses it

    struct Reply {
        let status: HTTPResponseStatus
        let headers: HTTPHeaders
        let body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    }

    func linkRequest(_ method: HTTPMethod, _ path: String, json: Any? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: link + path)
        request.method = method
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        }
        let response = try await linkClient.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: response.status, headers: response.headers, body: Data(body.readableBytesView))
    }

    /// Core pushes a patient with a fresh invitation; returns the token the e-mail would carry.
    func invite(ref: String, name: String = "DOE^JANE", birthDate: String = "19800215", email: String = "jane@example.org",
                expiresIn: TimeInterval = 72 * 3600) async throws -> String {
        let token = OneTimeToken.generate()
        let reply = try await linkRequest(.PUT, "/link/v1/patients/\(ref)", json: [
            "name": name, "birthDate": birthDate, "email": email,
            "invitation": ["tokenSHA256": token.digest.map { String(format: "%02x", $0) }.joined(), "expiresAt": ISO8601DateFormatter().string(from: clock.now.addingTimeInterval(expiresIn))],
        ])
        XCTAssertEqual(reply.status, .noContent, String(decoding: reply.body, as: UTF8.self))
        return token.text
    }
}
