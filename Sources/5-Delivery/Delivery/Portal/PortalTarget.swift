import AsyncHTTPClient
import Crypto
import DICOMNetwork
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import POSIX
import PortalPKI
import PortalProtocol
import SessionReport
#if canImport(Glibc)
import Glibc
#endif

/// The portal core as a destination (`portal+https://HOST:PORT`): each spooled instance is one tus 1.0.0 upload at
/// `KioskAPI.uploadsPath` over mutual TLS with the kiosk's certificate, and each session's signed manifest is
/// `PUT` from the outbox (``PortalManifests``). Core commits a kiosk batch once it holds the manifest and every
/// upload the manifest lists, in whatever order they came.
///
/// Resuming: an upload's URL is written to the ledger beside the spool before its first byte is sent, so the next
/// attempt after a cut asks `HEAD` where the server stands and continues there; one instance never has two uploads
/// unless the server forgot the first (404, 410) or the spool holds other bytes under its UID.
public struct PortalTarget: DeliveryTarget {
    public struct Settings: Sendable {
        /// `https://HOST:PORT` of the portal core.
        public var base: URL
        /// The kiosk's certificate, key and the portal CA (`[portal]` in the configuration).
        public var credentials: KioskCredentials
        /// Bytes per PATCH, each with its own `Upload-Checksum`: a cut loses at most one chunk.
        public var chunkBytes = 8 << 20
        /// Uploads in flight at once (OHIF settled on 3 for browsers; a kiosk on a LAN takes one more).
        public var parallelUploads = 4
        /// Per request; a chunk of 8 MiB needs well under this even on a slow link.
        public var timeout: TimeAmount = .seconds(120)
        public var connectTimeout: TimeAmount = .seconds(10)

        public init(base: URL, credentials: KioskCredentials) {
            self.base = base; self.credentials = credentials
        }
    }

    public let destination: String
    public let settings: Settings

    public init(destination: String, settings: Settings) {
        self.destination = destination; self.settings = settings
    }

    /// A target for `portal+https://HOST:PORT` (``baseURL(of:)``) with `credentials`.
    public init(destination: String, credentials: KioskCredentials) throws(PortalDestinationError) {
        self.init(destination: destination, settings: Settings(base: try Self.baseURL(of: destination), credentials: credentials))
    }

    // MARK: the destination's URL

    public static let scheme = "portal+https://"

    /// `portal+https://HOST[:PORT][/]` → `https://HOST[:PORT]`. Only https (the kiosk's identity is its TLS
    /// certificate), no credentials (the certificate is the credential), no path, query or fragment (core's API
    /// paths are fixed by `KioskAPI`).
    public static func baseURL(of destination: String) throws(PortalDestinationError) -> URL {
        guard destination.hasPrefix(scheme) else { throw PortalDestinationError(destination: destination, problem: "expected portal+https://HOST:PORT") }
        let https = "https://" + destination.dropFirst(scheme.count)
        guard let components = URLComponents(string: https), let host = components.host, !host.isEmpty else {
            throw PortalDestinationError(destination: destination, problem: "no host")
        }
        guard components.user == nil, components.password == nil else {
            throw PortalDestinationError(destination: destination, problem: "no user or password: the kiosk's certificate is its credential ([portal] certificate)")
        }
        guard components.path.isEmpty || components.path == "/" else {
            throw PortalDestinationError(destination: destination, problem: "no path: the portal's API paths are fixed")
        }
        guard components.query == nil, components.fragment == nil else {
            throw PortalDestinationError(destination: destination, problem: "no query or fragment")
        }
        if let port = components.port, !(1...65535).contains(port) { throw PortalDestinationError(destination: destination, problem: "bad port") }
        var base = URLComponents()
        base.scheme = "https"
        base.host = host
        base.port = components.port
        guard let url = base.url else { throw PortalDestinationError(destination: destination, problem: "not a URL") }
        return url
    }

    // MARK: DeliveryTarget

    public func verify() async throws -> String {
        let client = makeClient()
        let reply: Reply
        do {
            reply = try await send(.GET, url(KioskAPI.healthPath), client: client, tus: false)
        } catch {
            try? await client.shutdown()
            throw PortalError.connection(explain(error))
        }
        try? await client.shutdown()
        guard reply.status == 200 else { throw PortalError.http(reply.status, reply.text) }
        let said = reply.text.trimmingCharacters(in: .whitespacesAndNewlines)
        return "portal \(peer) answered \(KioskAPI.healthPath) (HTTP 200\(said.isEmpty || said.count > 80 ? "" : ": \(said)")) to kiosk \(settings.credentials.name) over mutual TLS"
    }

    public func deliver(_ instances: [SpooledInstance], from spool: URL,
                        report: @escaping @Sendable (SpooledInstance, Spool.Result) async -> Void) async {
        let ledger: PortalUploadLedger
        do { ledger = try PortalUploadLedger(spoolDirectory: spool) } catch {
            for instance in instances { await report(instance, .retry("the portal upload ledger cannot be opened: \(error)")) }
            return
        }
        let client = makeClient()
        let queue = BatchQueue(instances.map { [$0] })
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, min(settings.parallelUploads, instances.count)) {
                group.addTask {
                    while let batch = await queue.next() {
                        for instance in batch {
                            // Stopping: what was not started waits for the next attempt rather than failing fast here.
                            let result = Task.isCancelled
                                ? .retry("the upload was interrupted (the agent is stopping); it resumes at the next attempt")
                                : await upload(instance, file: spool.appendingPathComponent(instance.path), ledger: ledger, client: client)
                            await report(instance, result)
                        }
                    }
                }
            }
        }
        try? await client.shutdown()
    }

    // MARK: one upload

    /// Where an upload stands on the server.
    private enum Position {
        case at(url: String, offset: Int64)
        /// No upload to continue: none remembered, or the server no longer has it for these bytes.
        case none
        case finished(Spool.Result)
    }

    private func upload(_ instance: SpooledInstance, file: URL, ledger: PortalUploadLedger, client: HTTPClient) async -> Spool.Result {
        let descriptor: Descriptor
        do {
            descriptor = try Descriptor.open(file.path, O_RDONLY)
            guard Int64(try descriptor.status().st_size) == instance.size else {
                return .failed(.deliveryUnreadable, reason: "the spooled file's size is not the \(instance.size) bytes recorded")
            }
        } catch {
            return .failed(.deliveryUnreadable, reason: "the spooled file cannot be read: \(error)")
        }
        var creations = 0
        var resyncs = 0
        do {
            var position = try await locate(instance, ledger: ledger, client: client)
            while true {
                let uploadURL: String, offset: Int64
                switch position {
                case .finished(let result):
                    return result
                case .none:
                    // At most one upload lost mid-attempt is replaced: a server that forgets every upload is retried later.
                    creations += 1
                    guard creations <= 2 else { return .retry("the portal lost the new upload too (HTTP 404/410)") }
                    position = try await create(instance, ledger: ledger, client: client)
                    continue
                case .at(let url, let at):
                    uploadURL = url; offset = at
                }
                if offset == instance.size { return .stored(detail: "uploaded to the portal (\(uploadURL))") }
                let length = Int(min(Int64(settings.chunkBytes), instance.size - offset))
                var chunk = ByteBufferAllocator().buffer(capacity: length)
                let read = try chunk.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { buffer in
                    try descriptor.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<length]))
                }
                guard read == length else { return .failed(.deliveryUnreadable, reason: "the spooled file ended before its recorded size") }
                let digest = chunk.withUnsafeReadableBytes { Data(SHA256.hash(data: $0)).base64EncodedString() }
                let reply = try await send(.PATCH, uploadURL, client: client, headers: [
                    ("Content-Type", "application/offset+octet-stream"), ("Upload-Offset", String(offset)),
                    ("Upload-Checksum", "sha256 \(digest)"),
                ], body: .bytes(chunk))
                switch reply.status {
                case 204:
                    let moved = reply.headers.first(name: "Upload-Offset").flatMap(Int64.init) ?? offset + Int64(length)
                    guard moved > offset, moved <= instance.size else {
                        return .retry("the portal answered an Upload-Offset of \(moved) after a chunk sent at \(offset)")
                    }
                    position = .at(url: uploadURL, offset: moved)
                case 409:
                    // Our idea of the offset is stale (a chunk of a cut attempt did land after all): ask again.
                    resyncs += 1
                    guard resyncs <= 3 else { return .retry("the portal keeps answering 409 (offset conflict) for \(uploadURL)") }
                    position = try await head(uploadURL, instance, ledger: ledger, client: client)
                case 404, 410:
                    // The server forgot it (expired, removed): start afresh.
                    try ledgerStep { try ledger.forget(destination: destination, sopInstanceUID: instance.sopInstanceUID) }
                    position = .none
                case 460:
                    return .retry("the portal received a chunk whose SHA-256 did not match (HTTP 460): the bytes were damaged on the way; sent again later")
                case 413:
                    return .failed(.deliveryTooLarge, reason: "the portal refused a chunk as too large (HTTP 413): \(reply.text)")
                case 423:
                    return .retry("the portal is still writing an earlier chunk of this upload (HTTP 423)")
                default:
                    return .retry("the portal answered PATCH with HTTP \(reply.status): \(reply.text)")
                }
            }
        } catch let error as PortalUploadLedgerFailure {
            return .retry(error.description)
        } catch {
            return .retry(explain(error))
        }
    }

    /// The remembered upload if the server still has it for these bytes.
    private func locate(_ instance: SpooledInstance, ledger: PortalUploadLedger, client: HTTPClient) async throws -> Position {
        let remembered = try ledgerStep { try ledger.entry(destination: destination, sopInstanceUID: instance.sopInstanceUID) }
        guard let remembered else { return .none }
        guard remembered.sha256 == instance.sha256, remembered.size == instance.size else {
            // Another copy of the instance was spooled since (a second session): that upload holds other bytes.
            _ = try? await send(.DELETE, remembered.url, client: client)
            try ledgerStep { try ledger.forget(destination: destination, sopInstanceUID: instance.sopInstanceUID) }
            return .none
        }
        return try await head(remembered.url, instance, ledger: ledger, client: client)
    }

    /// `HEAD`: the server's offset. A URL the server no longer knows is forgotten.
    private func head(_ uploadURL: String, _ instance: SpooledInstance, ledger: PortalUploadLedger, client: HTTPClient) async throws -> Position {
        let reply = try await send(.HEAD, uploadURL, client: client)
        switch reply.status {
        case 200, 204:
            guard let offset = reply.headers.first(name: "Upload-Offset").flatMap(Int64.init), offset >= 0, offset <= instance.size,
                  reply.headers.first(name: "Upload-Length").flatMap(Int64.init) == instance.size
            else {
                // Not the upload made for these bytes: start again rather than append to something else.
                try ledgerStep { try ledger.forget(destination: destination, sopInstanceUID: instance.sopInstanceUID) }
                return .none
            }
            return .at(url: uploadURL, offset: offset)
        case 404, 410:
            try ledgerStep { try ledger.forget(destination: destination, sopInstanceUID: instance.sopInstanceUID) }
            return .none
        default:
            return .finished(.retry("the portal answered HEAD with HTTP \(reply.status): \(reply.text)"))
        }
    }

    /// `POST`: a new upload with the instance's metadata, remembered before any byte is sent to it.
    private func create(_ instance: SpooledInstance, ledger: PortalUploadLedger, client: HTTPClient) async throws -> Position {
        let metadata = [
            (KioskAPI.Metadata.session, instance.sessionID),
            (KioskAPI.Metadata.sopInstanceUID, instance.sopInstanceUID),
            (KioskAPI.Metadata.sha256, instance.sha256),
            (KioskAPI.Metadata.filename, "\(instance.sopInstanceUID).dcm"),
        ].map { "\($0.0) \(Data($0.1.utf8).base64EncodedString())" }.joined(separator: ",")
        let reply = try await send(.POST, url(KioskAPI.uploadsPath), client: client, headers: [
            ("Upload-Length", String(instance.size)), ("Upload-Metadata", metadata),
        ])
        switch reply.status {
        case 201:
            guard let location = reply.headers.first(name: "Location"), let resolved = resolve(location) else {
                return .finished(.retry("the portal created an upload without a usable Location (\(reply.headers.first(name: "Location") ?? "none"))"))
            }
            try ledgerStep {
                try ledger.remember(.init(url: resolved, sha256: instance.sha256, size: instance.size),
                                    destination: destination, sopInstanceUID: instance.sopInstanceUID)
            }
            return .at(url: resolved, offset: 0)
        case 413:
            return .finished(.failed(.deliveryTooLarge, reason: "the portal takes no upload of \(instance.size) bytes (HTTP 413: \(reply.text))"))
        case 400:
            return .finished(.failed(.deliveryRefused, reason: "the portal refused the upload (HTTP 400: \(reply.text))"))
        case 401, 403:
            return .finished(.retry("the portal does not accept uploads from kiosk \(settings.credentials.name) (HTTP \(reply.status): \(reply.text))"))
        default:
            return .finished(.retry("the portal answered the upload's creation with HTTP \(reply.status): \(reply.text)"))
        }
    }

    /// A Location on the portal itself: never send a patient's bytes to a host the destination does not name.
    private func resolve(_ location: String) -> String? {
        guard let url = URL(string: location, relativeTo: settings.base)?.absoluteURL, url.scheme == "https",
              url.host == settings.base.host, url.port == settings.base.port else { return nil }
        return url.absoluteString
    }

    private func ledgerStep<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw PortalUploadLedgerFailure(error: "\(error)") }
    }

    // MARK: manifests

    /// What became of one queued manifest.
    public enum ManifestOutcome: Sendable, Equatable, CustomStringConvertible {
        /// Core holds it (201 stored, 200 already stored); removed from the outbox.
        case sent(session: String, status: UInt)
        /// Core refused it for good (409 other bytes already stored, 400 unreadable): moved to `failed/`.
        case refused(session: String, code: FindingCode, reason: String)
        /// Not delivered this time (network, TLS, 5xx, 403); stays queued.
        case pending(session: String, reason: String)

        /// A line for the agent's log.
        public var description: String {
            switch self {
            case let .sent(session, status): "manifest of session \(session) stored by the portal (HTTP \(status))"
            case let .refused(session, code, reason): "manifest of session \(session) refused (\(code)): \(reason)"
            case let .pending(session, reason): "manifest of session \(session) waits: \(reason)"
            }
        }
    }

    /// Signs and `PUT`s every manifest waiting in `outbox`. Call it from the drain loop of a portal destination
    /// even when no instance is due (``SpoolDrainer/sendManifests()`` does): a session whose instances were all
    /// rejected still owes core its manifest.
    public func sendPendingManifests(_ outbox: PortalManifests) async -> [ManifestOutcome] {
        let sessions: [String]
        do { sessions = try outbox.pending() } catch { return [] }
        guard !sessions.isEmpty else { return [] }
        let client = makeClient()
        var outcomes: [ManifestOutcome] = []
        for session in sessions {
            outcomes.append(await sendManifest(session, outbox: outbox, client: client))
        }
        try? await client.shutdown()
        return outcomes
    }

    private func sendManifest(_ session: String, outbox: PortalManifests, client: HTTPClient) async -> ManifestOutcome {
        let reply: Reply
        do {
            let body = try outbox.body(session: session)
            let signature = try ManifestSignature.sign(body, with: try settings.credentials.signingKey())
            reply = try await send(.PUT, url(KioskAPI.manifestPath(session: session)), client: client, tus: false, headers: [
                ("Content-Type", "application/json"), (KioskAPI.signatureHeader, signature),
            ], body: .bytes(ByteBuffer(bytes: body)))
        } catch let error as PortalManifests.OutboxError {
            return .pending(session: session, reason: error.description)
        } catch {
            return .pending(session: session, reason: explain(error))
        }
        switch reply.status {
        case 200, 201:
            do { try outbox.remove(session: session) } catch {
                // Sent, but still queued: sending the same bytes again is answered 200.
                return .pending(session: session, reason: "\(error)")
            }
            return .sent(session: session, status: reply.status)
        case 400, 409:
            let reason = reply.status == 409
                ? "the portal already holds a different manifest for session \(session) (HTTP 409): \(reply.text)"
                : "the portal cannot read the manifest of session \(session) (HTTP 400): \(reply.text)"
            do { try outbox.markFailed(session: session, reason: reason) } catch {
                return .pending(session: session, reason: "\(reason); and it cannot be set aside: \(error)")
            }
            return .refused(session: session, code: reply.status == 409 ? .deliveryManifestConflict : .deliveryRefused, reason: reason)
        case 403:
            return .pending(session: session, reason: "the portal says the manifest's signature does not match kiosk \(settings.credentials.name)'s certificate (HTTP 403)")
        default:
            return .pending(session: session, reason: "the portal answered the manifest with HTTP \(reply.status): \(reply.text)")
        }
    }

    // MARK: HTTP

    private struct Reply {
        let status: UInt
        let headers: HTTPHeaders
        let text: String
    }

    private var peer: String { "\(settings.base.host ?? "the portal"):\(settings.base.port ?? 443)" }

    private func url(_ path: String) -> String {
        let base = settings.base.absoluteString
        return (base.hasSuffix("/") ? String(base.dropLast()) : base) + path
    }

    private func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = settings.credentials.tls
        configuration.timeout = .init(connect: settings.connectTimeout, read: settings.timeout)
        configuration.redirectConfiguration = .disallow    // patients' bytes go to the portal named, nowhere else
        configuration.httpVersion = .http1Only
        // A portal that refuses connections fails the request now: the spool retries it on its own schedule,
        // whereas the pool's own retries would hold every queued upload until its whole deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    private func send(_ method: HTTPMethod, _ url: String, client: HTTPClient, tus: Bool = true,
                      headers: [(String, String)] = [], body: HTTPClientRequest.Body? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if tus { request.headers.add(name: "Tus-Resumable", value: "1.0.0") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = body
        let response = try await client.execute(request, timeout: settings.timeout)
        let bytes = try await response.body.collect(upTo: 64 << 10)
        let text = String(buffer: bytes).trimmingCharacters(in: .whitespacesAndNewlines)
        return Reply(status: response.status.code, headers: response.headers, text: String(text.prefix(500)))
    }

    /// A failed request in words. A TLS alert about our certificate is the portal refusing this kiosk (revoked,
    /// expired, issued by another portal): the sentence says so, since that is what the administrator must fix.
    func explain(_ error: any Error) -> String {
        let text = "\(error)"
        let reasons = text.uppercased()
        let certificateAlerts = ["ALERT_UNKNOWN_CA", "ALERT_BAD_CERTIFICATE", "ALERT_CERTIFICATE_UNKNOWN", "ALERT_CERTIFICATE_REQUIRED",
                                 "ALERT_CERTIFICATE_EXPIRED", "ALERT_CERTIFICATE_REVOKED", "ALERT_ACCESS_DENIED",
                                 "PEER_DID_NOT_RETURN_A_CERTIFICATE"]
        if certificateAlerts.contains(where: reasons.contains) {
            return "the portal \(peer) refused the kiosk's certificate (kiosk \(settings.credentials.name), serial \(settings.credentials.serial)): "
                + "it is revoked, expired or not issued by this portal; ask the portal's administrator [\(text)]"
        }
        if reasons.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the certificate of \(peer) is not signed by the portal CA in [portal] ca_file (or it has expired) [\(text)]"
        }
        if let why = ConnectionFailure.explain(error, peer: peer) { return why }
        if error is CancellationError { return "the upload was interrupted (the agent is stopping); it resumes at the next attempt" }
        guard let error = error as? HTTPClientError else { return text }
        switch error {
        case .connectTimeout: return "timed out: no answer from \(peer) (the host is down, or a firewall drops the connection)"
        case .tlsHandshakeTimeout: return "timed out in the TLS handshake with \(peer)"
        case .readTimeout, .deadlineExceeded: return "timed out: \(peer) did not answer within \(settings.timeout.nanoseconds / 1_000_000_000) s"
        case .remoteConnectionClosed: return "the connection was closed by \(peer) before it answered"
        case .cancelled: return "the upload was interrupted (the agent is stopping); it resumes at the next attempt"
        default: return text
        }
    }
}

/// The ledger of upload URLs could not be read or written: retry, never upload without remembering where.
struct PortalUploadLedgerFailure: Error, CustomStringConvertible {
    let error: String
    var description: String { "the portal upload ledger (\(PortalUploadLedger.fileName)) failed: \(error)" }
}

/// A `portal+https://` destination that cannot be used as given.
public struct PortalDestinationError: Error, Equatable, CustomStringConvertible {
    public let destination: String
    public let problem: String
    public var description: String { "destination '\(destination)': \(problem)" }
}

public enum PortalError: Error, CustomStringConvertible {
    case http(UInt, String)
    /// No answer: why, in words.
    case connection(String)

    public var description: String {
        switch self {
        case let .http(code, why): "the portal answered HTTP \(code): \(why)"
        case let .connection(why): why
        }
    }
}
