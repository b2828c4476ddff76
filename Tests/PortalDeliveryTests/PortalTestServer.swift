import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import PortalPKI
import PortalProtocol
import ServiceLifecycle
import Synchronization
import TestSupport
import Uploads
import X509
import XCTest

/// A stand-in for the portal core on 127.0.0.1 (port chosen by the kernel): the real `TusServer` over a
/// `FileStagingStore` and `FileUploadRegistry`, behind mutual TLS whose handshakes a real `KioskVerifier` decides
/// (the portal CA from `PortalAuthority`, revocation by serial), a manifest route that verifies the signature with
/// the kiosk certificate's key as core must, `/healthz`, and a middleware that can refuse requests to cut uploads.
final class PortalTestServer: Sendable {
    let directory: TestSupport.TemporaryDirectory
    let authority: PortalAuthority
    /// The kiosk's files as `dicom-portal kiosk add kiosk-1 --out DIR` writes them.
    let kioskDirectory: String
    let kiosk: IssuedKiosk
    let fileStore: FileStagingStore
    let registry: FileUploadRegistry
    let port: Int
    /// Requests seen, by method (`POST`, `PATCH`, `HEAD`, `DELETE`, `PUT`).
    let requests = Locked<[String: Int]>([:])
    /// PATCHes beyond this many are answered 503 without reaching tus: the server "goes away" mid-upload.
    let patchLimit = Locked<Int?>(nil)
    /// Each PATCH waits this many nanoseconds before tus sees it: a slow link, so a test can cut an upload mid-way.
    let patchDelay = Locked<UInt64>(0)
    /// The PATCH with this number (1-based) reaches tus with a wrong `Upload-Checksum`: bytes damaged on the way.
    let corruptPatch = Locked<Int?>(nil)
    let revoked = Locked<Set<String>>([])
    /// Manifest bodies stored (their signatures verified), by session.
    let manifests = Locked<[String: Data]>([:])
    private let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
    private let services: ServiceGroup
    private let task: Task<Void, any Error>

    init(maxSize: Int64 = 64 << 20) async throws {
        directory = try TestSupport.TemporaryDirectory("portal-delivery")
        authority = try PortalAuthority.openOrCreate(directory: directory.path("ca"), organization: "St Example Hospital")
        kioskDirectory = directory.path("kiosk")
        kiosk = try authority.issueKiosk(name: "kiosk-1", outputDirectory: kioskDirectory)
        try FileManager.default.createDirectory(atPath: directory.path("staging"), withIntermediateDirectories: true)
        fileStore = try FileStagingStore(directory: directory.path("staging"))
        registry = try FileUploadRegistry(directory: directory.path("registry"))
        let key = key
        // As core does: the key of the certificate the kiosk was issued (its bytes: the key type is not Sendable).
        let kioskCertificate = try Certificate(pemEncoded: String(contentsOfFile: kioskDirectory + "/kiosk.crt", encoding: .utf8))
        let kioskKey = try XCTUnwrap(P256.Signing.PublicKey(kioskCertificate.publicKey)).x963Representation
        let tus = TusServer<BasicRequestContext>(
            configuration: .init(maxSize: maxSize, expiry: 3600), store: fileStore, registry: registry,
            // Only verified kiosks get this far (the handshake); the test has one.
            authorize: { _, _ in UploadOwner("kiosk-1") },
            batchFor: { owner, _, _ in "kiosk-\(owner.id)" },
            keyFor: { _ in SymmetricKey(data: key) })
        let router = Router()
        router.add(middleware: Gate(requests: requests, patchLimit: patchLimit, patchDelay: patchDelay, corruptPatch: corruptPatch))
        tus.addRoutes(to: router)
        router.get(RouterPath(KioskAPI.healthPath)) { _, _ in "dicom-portal core (test)" }
        let manifests = manifests
        router.put(RouterPath(KioskAPI.manifestRoute)) { request, context -> Response in
            let session = try context.parameters.require("session")
            let body = Data(try await request.body.collect(upTo: 16 << 20).readableBytesView)
            guard let signature = request.headers[HTTPField.Name(KioskAPI.signatureHeader)!],
                  (try? ManifestSignature.verify(body, signature: signature, publicKey: P256.Signing.PublicKey(x963Representation: kioskKey))) != nil
            else { return Response(status: .forbidden) }
            guard let manifest = try? KioskManifest.decode(body), manifest.session == session else { return Response(status: .badRequest) }
            let status: HTTPResponse.Status = manifests.withLock { stored in
                if let earlier = stored[session] { return earlier == body ? .ok : .conflict }
                stored[session] = body
                return .created
            }
            return Response(status: status, body: .init(byteBuffer: ByteBuffer(string: status == .conflict ? "another manifest is stored" : "")))
        }

        let revoked = revoked
        let verifier = try KioskVerifier(authority: authority.certificate, isRevoked: { serial in revoked.withLock { $0.contains(serial) } })
        let tls = try authority.serverTLSConfiguration(names: ["localhost", "127.0.0.1"])
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "portal-test")
        logger.logLevel = .critical
        let app = Application(
            router: router,
            server: try .tls(.http1(), configuration: .init(tlsConfiguration: tls, customAsyncVerificationCallback: { presented in
                do {
                    _ = try await verifier.verify(presented: try presented.map { try Certificate(derEncoded: $0.toDERBytes()) })
                    return .certificateVerified
                } catch {
                    return .failed
                }
            })),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger)
        let services = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
        self.services = services
        task = Task { try await services.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw XCTSkip("the test server did not start") }
        self.port = port
    }

    var destination: String { "portal+https://127.0.0.1:\(port)" }

    func credentials() throws -> KioskCredentials {
        try KioskCredentials(certificate: kioskDirectory + "/kiosk.crt", key: kioskDirectory + "/kiosk.key",
                             caFile: kioskDirectory + "/portal-ca.crt")
    }

    func count(_ method: String) -> Int { requests.withLock { $0[method] ?? 0 } }

    /// Every upload the server holds: its record, and its plaintext read back through the store (tags verified).
    func uploads() async throws -> [(record: UploadRecord, bytes: [UInt8])] {
        var found: [(UploadRecord, [UInt8])] = []
        for id in try await fileStore.list() {
            guard let record = try await registry.get(id) else { continue }
            var bytes: [UInt8] = []
            for try await chunk in try await fileStore.read(id, key: SymmetricKey(data: key), length: record.offset) {
                bytes += chunk.readableBytesView
            }
            found.append((record, bytes))
        }
        return found
    }

    func shutdown() async {
        await services.triggerGracefulShutdown()
        _ = await task.result
        directory.cleanUp()
    }
}

/// Counts requests and, while `patchLimit` is set, answers the PATCHes beyond it 503 as a server going away would.
private struct Gate: RouterMiddleware {
    typealias Context = BasicRequestContext
    let requests: Locked<[String: Int]>
    let patchLimit: Locked<Int?>
    let patchDelay: Locked<UInt64>
    let corruptPatch: Locked<Int?>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let method = request.method.rawValue
        let seen = requests.withLock { counts in
            counts[method, default: 0] += 1
            return counts[method]!
        }
        if method == "PATCH", let limit = patchLimit.withLock({ $0 }), seen > limit {
            _ = try? await request.body.collect(upTo: 64 << 20)
            return Response(status: .serviceUnavailable)
        }
        if method == "PATCH", case let delay = patchDelay.withLock({ $0 }), delay > 0 {
            try? await Task.sleep(nanoseconds: delay)
        }
        if method == "PATCH", corruptPatch.withLock({ $0 }) == seen {
            var head = request.head
            head.headerFields[HTTPField.Name("Upload-Checksum")!] = "sha256 " + Data(SHA256.hash(data: Data("other bytes".utf8))).base64EncodedString()
            return try await next(Request(head: head, body: request.body), context)
        }
        return try await next(request, context)
    }
}

/// A value behind a mutex, shareable between the test and the server's closures.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T { try mutex.withLock { try body(&$0) } }
}
