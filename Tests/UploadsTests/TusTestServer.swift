import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Uploads
import XCTest

/// A tus server on 127.0.0.1 (port chosen by the kernel) over a temporary staging directory, with an HTTP client.
/// Owners authenticate with `Authorization: Bearer <name>`; each owner's uploads join the batch `batch-<name>`, unless
/// the metadata `refuse-with <status>` makes `batchFor` refuse them.
final class TusTestServer: Sendable {
    let directory: String
    let store: any StagingStore
    let fileStore: FileStagingStore
    let registry: FileUploadRegistry
    let tus: TusServer<BasicRequestContext>
    let baseURL: String
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let completed = Locked<[UploadRecord]>([])
    let clock = Locked(Date())
    /// Each batch's key bytes (SymmetricKey itself is not Sendable).
    private let keys = Locked<[String: Data]>([:])
    private let services: ServiceGroup
    private let task: Task<Void, any Error>

    /// `wrap` lets a test put a failing store in front of the real one; `prepareStaging` runs on the staging
    /// directory (made, empty) before the store opens it.
    init(maxSize: Int64 = 64 << 20, wrap: (FileStagingStore) -> any StagingStore = { $0 },
         prepareStaging: (String) throws -> Void = { _ in }) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tus-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/staging", withIntermediateDirectories: true)
        try prepareStaging(directory + "/staging")
        fileStore = try FileStagingStore(directory: directory + "/staging")
        store = wrap(fileStore)
        registry = try FileUploadRegistry(directory: directory + "/registry")
        let completed = completed, keys = keys, clock = clock
        tus = TusServer(
            configuration: .init(maxSize: maxSize, expiry: 3600),
            store: store, registry: registry,
            authorize: { request, _ in
                guard let value = request.headers[.authorization], value.hasPrefix("Bearer ") else { return nil }
                return UploadOwner(String(value.dropFirst("Bearer ".count)))
            },
            batchFor: { owner, metadata, _ in
                // A test asks for a refusal with metadata `refuse-with <status>`: the server must answer with it.
                if let code = metadata.first(where: { $0.key == "refuse-with" })?.value.flatMap({ Int(String(decoding: $0, as: UTF8.self)) }) {
                    throw UploadRefusal(status: .init(code: code), reason: "refused by batchFor")
                }
                return "batch-\(owner.id)"
            },
            keyFor: { batch in
                SymmetricKey(data: keys.withLock { keys in
                    if let key = keys[batch] { return key }
                    let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
                    keys[batch] = key
                    return key
                })
            },
            onComplete: { record, _ in completed.withLock { $0.append(record) } },
            now: { clock.withLock { $0 } })
        let router = Router()
        tus.addRoutes(to: router)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "tus-test")
        logger.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
                              logger: logger)
        let services = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
        self.services = services
        task = Task { try await services.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw XCTSkip("the test server did not start") }
        baseURL = "http://127.0.0.1:\(port)/uploads/"
    }

    func shutdown() async throws {
        try await client.shutdown()
        await services.triggerGracefulShutdown()
        _ = await task.result
        if mountedStaging { _ = try? runProgram("/usr/bin/umount", [directory + "/staging"]) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    var mountedStaging: Bool {
        (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8))?.contains(" \(directory)/staging ") ?? false
    }

    func key(for owner: String) -> SymmetricKey {
        SymmetricKey(data: keys.withLock { $0["batch-\(owner)"]! })
    }

    func advanceClock(by seconds: TimeInterval) {
        clock.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    struct Reply {
        let status: Int
        let headers: HTTPHeaders
        let body: String
        func header(_ name: String) -> String? { headers.first(name: name) }
    }

    /// One request; `tus` adds Tus-Resumable: 1.0.0, `owner` the bearer token.
    func send(_ method: HTTPMethod, _ path: String = "", owner: String? = "alice", tus: Bool = true,
              headers: [(String, String)] = [], body: HTTPClientRequest.Body? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: path.hasPrefix("http") ? path : baseURL + path)
        request.method = method
        if tus { request.headers.add(name: "Tus-Resumable", value: "1.0.0") }
        if let owner { request.headers.add(name: "Authorization", value: "Bearer \(owner)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = body
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    /// Creates an upload of `length` bytes and returns its id (the last path component of Location).
    func create(length: Int, owner: String = "alice", metadata: String? = nil) async throws -> String {
        var headers = [("Upload-Length", String(length))]
        if let metadata { headers.append(("Upload-Metadata", metadata)) }
        let reply = try await send(.POST, owner: owner, headers: headers)
        XCTAssertEqual(reply.status, 201, reply.body)
        return String(try XCTUnwrap(reply.header("Location")).split(separator: "/").last!)
    }

    func patch(_ id: String, offset: Int, bytes: [UInt8], owner: String = "alice",
               extra: [(String, String)] = []) async throws -> Reply {
        try await send(.PATCH, id, owner: owner,
                       headers: [("Content-Type", "application/offset+octet-stream"), ("Upload-Offset", String(offset))] + extra,
                       body: .bytes(ByteBuffer(bytes: bytes)))
    }

    func offset(_ id: String, owner: String = "alice") async throws -> Int? {
        try await send(.HEAD, id, owner: owner).header("Upload-Offset").flatMap(Int.init)
    }

    /// The staged plaintext of an upload, read back through the store (every tag verified).
    func readBack(_ id: String, owner: String = "alice", length: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await chunk in try await fileStore.read(UploadID(id)!, key: key(for: owner), length: Int64(length)) {
            bytes += chunk.readableBytesView
        }
        return bytes
    }
}

/// A value behind a mutex, shareable between the test and the server's closures.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T { try mutex.withLock { try body(&$0) } }
}

func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: (count + 7) / 8 * 8)
    bytes.withUnsafeMutableBytes { raw in
        for index in 0..<raw.count / 8 { raw.storeBytes(of: generator.next() as UInt64, toByteOffset: index * 8, as: UInt64.self) }
    }
    return Array(bytes.prefix(count))
}

func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
    SHA256.hash(data: Array(bytes)).map { String(format: "%02x", $0) }.joined()
}

func checksum(_ algorithm: String, _ bytes: [UInt8]) -> String {
    let digest = algorithm == "sha1" ? Data(Insecure.SHA1.hash(data: bytes)) : Data(SHA256.hash(data: bytes))
    return "\(algorithm) \(digest.base64EncodedString())"
}
