import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import PortalCore
import PortalPKI
import PortalProtocol
import PortalStore
import PostgresNIO
import ServiceLifecycle
import SessionReport
import XCTest
import PortalTestSupport

/// Core on 127.0.0.1 (a port the kernel chooses) over the test class's PostgreSQL cluster, with two registered kiosks
/// whose files `issueKiosk` wrote, as `dicom-portal kiosk add` does. Kiosk names are unique per server so tests of a
/// class can share the database.
final class CoreTestServer: Sendable {
    let directory: String
    let database: PortalDatabase
    let authority: PortalAuthority
    let core: PortalCore
    let port: Int
    let kioskA: IssuedKiosk
    let kioskB: IssuedKiosk
    private let services: ServiceGroup
    private let task: Task<Void, any Error>

    init(test: XCTestCase, sweepInterval: Duration = .seconds(300), uploadExpiry: TimeInterval = 3600) async throws {
        directory = NSTemporaryDirectory() + "portal-core-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        database = try await migratedDatabase(for: test)
        authority = try PortalAuthority.openOrCreate(directory: directory + "/ca", organization: "St Example Hospital")
        let suffix = UUID().uuidString.prefix(8).lowercased()
        kioskA = try authority.issueKiosk(name: "desk-a-\(suffix)", outputDirectory: directory + "/a")
        kioskB = try authority.issueKiosk(name: "desk-b-\(suffix)", outputDirectory: directory + "/b")
        let registry = KioskRegistry(database)
        for kiosk in [kioskA, kioskB] {
            try await registry.add(name: kiosk.name.value, serial: kiosk.serial, fingerprint: kiosk.fingerprint, actor: "test")
        }
        var logger = Logger(label: "core-test")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        core = try PortalCore(
            configuration: .init(host: "127.0.0.1", port: 0, serverNames: ["localhost", "127.0.0.1"],
                                 stagingDirectory: directory + "/staging", maxUploadSize: 64 << 20, uploadExpiry: uploadExpiry,
                                 sweepInterval: sweepInterval),
            database: database, authority: authority, logger: logger,
            onServerRunning: { port in continuation.yield(port) })
        let services = ServiceGroup(services: [core], gracefulShutdownSignals: [], logger: logger)
        self.services = services
        task = Task { try await services.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw XCTSkip("core did not start") }
        self.port = port
        // Teardown blocks run last-registered first: core stops before its database does, as in production
        // (a core whose database is shut down first waits on its revocation listener).
        test.addTeardownBlock { [self] in await self.shutdown() }
    }

    func shutdown() async {
        await services.triggerGracefulShutdown()
        _ = await task.result
        try? FileManager.default.removeItem(atPath: directory)
    }

    var baseURL: String { "https://127.0.0.1:\(port)" }

    func files(_ kiosk: String) -> (certificate: String, key: String, ca: String) {
        (directory + "/\(kiosk)/kiosk.crt", directory + "/\(kiosk)/kiosk.key", directory + "/\(kiosk)/portal-ca.crt")
    }

    /// A client speaking as kiosk "a" or "b" (its own connection pool: a new client is a new handshake).
    func client(_ kiosk: String) throws -> KioskClient {
        let files = files(kiosk)
        let tls = try KioskTLS.clientConfiguration(certificate: files.certificate, key: files.key, caFile: files.ca)
        let key = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: files.key, encoding: .utf8))
        let name = kiosk == "a" ? kioskA.name.value : kioskB.name.value
        return KioskClient(baseURL: baseURL, tls: tls, name: name, signingKey: key)
    }

    func count(_ sql: PostgresQuery) async throws -> Int {
        var value = 0
        for try await row in try await database.client.query(sql).decode(Int.self) { value = row }
        return value
    }

    func batchState(kiosk: String, session: String) async throws -> String? {
        var state: String?
        for try await value in try await database.client.query("""
            SELECT b.state FROM batches b JOIN kiosks k ON k.id = b.kiosk WHERE k.name = \(kiosk) AND b.kiosk_session = \(session)
            """).decode(String.self) { state = value }
        return state
    }

    func protectJobs(kiosk: String, session: String) async throws -> Int {
        try await count("""
            SELECT count(*)::int FROM jobs j JOIN batches b ON b.id = j.batch JOIN kiosks k ON k.id = b.kiosk
            WHERE j.kind = 'protect' AND k.name = \(kiosk) AND b.kiosk_session = \(session)
            """)
    }
}

/// One rebuilt instance a kiosk sends.
struct TestInstance: Sendable {
    let uid: String
    let bytes: [UInt8]
    var sha256: String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }

    static func random(_ uid: String, size: Int = 4096) -> TestInstance {
        var generator = SystemRandomNumberGenerator()
        return TestInstance(uid: uid, bytes: (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}

/// A kiosk's side of the API over AsyncHTTPClient, configured with `KioskTLS` as the kiosk agent is.
final class KioskClient: Sendable {
    let baseURL: String
    let name: String
    /// The kiosk's key as raw bytes (Crypto's key types are not Sendable).
    private let signingKeyBytes: Data
    var signingKey: P256.Signing.PrivateKey { try! P256.Signing.PrivateKey(rawRepresentation: signingKeyBytes) }
    let http: HTTPClient

    init(baseURL: String, tls: TLSConfiguration, name: String, signingKey: P256.Signing.PrivateKey) {
        self.baseURL = baseURL
        self.name = name
        self.signingKeyBytes = signingKey.rawRepresentation
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }

    func shutdown() async throws { try await http.shutdown() }

    struct Reply: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let body: String
        func header(_ name: String) -> String? { headers.first(name: name) }
    }

    func send(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    static func metadata(_ pairs: [(String, String)]) -> String {
        pairs.map { "\($0.0) \(Data($0.1.utf8).base64EncodedString())" }.joined(separator: ",")
    }

    /// POST: the upload's path (`/uploads/<id>`), or the refusal.
    func create(_ instance: TestInstance, session: String?, sha256: String? = nil) async throws -> Reply {
        var pairs: [(String, String)] = [(KioskAPI.Metadata.sopInstanceUID, instance.uid), (KioskAPI.Metadata.sha256, sha256 ?? instance.sha256),
                                         (KioskAPI.Metadata.filename, "IM\(instance.uid.suffix(4)).dcm")]
        if let session { pairs.append((KioskAPI.Metadata.session, session)) }
        return try await send(.POST, KioskAPI.uploadsPath, headers: [
            ("Tus-Resumable", "1.0.0"), ("Upload-Length", String(instance.bytes.count)), ("Upload-Metadata", Self.metadata(pairs)),
        ])
    }

    /// `checksum`: sends `Upload-Checksum: sha256` of the chunk.
    func patch(_ location: String, offset: Int, _ bytes: some Collection<UInt8>, checksum: Bool = false) async throws -> Reply {
        var headers = [("Tus-Resumable", "1.0.0"), ("Content-Type", "application/offset+octet-stream"), ("Upload-Offset", String(offset))]
        if checksum { headers.append(("Upload-Checksum", "sha256 " + Data(SHA256.hash(data: Array(bytes))).base64EncodedString())) }
        return try await send(.PATCH, location, headers: headers, body: Array(bytes))
    }

    func head(_ location: String) async throws -> Reply {
        try await send(.HEAD, location, headers: [("Tus-Resumable", "1.0.0")])
    }

    /// Creates the upload and sends it whole; returns its location.
    @discardableResult
    func upload(_ instance: TestInstance, session: String, sha256: String? = nil) async throws -> String {
        let created = try await create(instance, session: session, sha256: sha256)
        XCTAssertEqual(created.status, 201, created.body)
        let location = try XCTUnwrap(created.header("Location"))
        let patched = try await patch(location, offset: 0, instance.bytes)
        XCTAssertEqual(patched.status, 204, patched.body)
        return location
    }

    func manifest(session: String, instances: [TestInstance], kiosk: String? = nil, operatorName: String = "op1") throws -> Data {
        let report = try ReportDocument(Report(source: .init(path: "/media/cdrom", filesystem: "iso9660", label: "STUDY")))
        return try KioskManifest(kiosk: kiosk ?? name, session: session, operatorName: operatorName, report: report,
                                 instances: instances.map { .init(sopInstanceUID: $0.uid, sha256: $0.sha256, size: Int64($0.bytes.count)) })
            .encoded()
    }

    func putManifest(_ body: Data, session: String, signature: String? = nil) async throws -> Reply {
        let signature = try signature ?? ManifestSignature.sign(body, with: signingKey)
        return try await send(.PUT, KioskAPI.manifestPath(session: session), headers: [
            (KioskAPI.signatureHeader, signature), ("Content-Type", "application/json"),
        ], body: Array(body))
    }

    func status(session: String) async throws -> (Int, KioskBatchStatus?) {
        let reply = try await send(.GET, KioskAPI.statusPath(session: session))
        guard reply.status == 200 else { return (reply.status, nil) }
        return (reply.status, try JSONDecoder().decode(KioskBatchStatus.self, from: Data(reply.body.utf8)))
    }
}
