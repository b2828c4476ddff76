import AsyncHTTPClient
import DICOMNetwork
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import SessionReport

/// Credentials for a DICOMweb server. `description` never shows the secret.
public enum DICOMwebAuthorization: Sendable, CustomStringConvertible {
    case none
    case bearer(String)
    case basic(user: String, password: String)

    var headerValue: String? {
        switch self {
        case .none: nil
        case let .bearer(token): "Bearer \(token)"
        case let .basic(user, password): "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .bearer: "bearer token"
        case let .basic(user, _): "basic as \(user)"
        }
    }
}

/// A STOW-RS destination (PS3.18 §10.5): `POST {base}/studies` with multipart/related;
/// type="application/dicom", one part per instance, batches sized by bytes, several requests in
/// parallel. Per-instance results come from the response's Referenced / Failed SOP Sequences.
public struct STOWSender: DeliveryTarget {
    public struct Settings: Sendable {
        /// `http(s)://HOST:PORT/PATH` (the service root; `/studies` is appended).
        public var base: URL
        public var authorization: DICOMwebAuthorization = .none
        /// Bytes of DICOM per request (an instance larger than this goes alone).
        public var batchBytes: Int64 = 32 << 20
        /// Requests in flight at once.
        public var connections = 2
        public var timeout: TimeAmount = .seconds(120)
        /// For https: the hospital CA, client certificate and verification (nil = system defaults).
        public var tls: TLSConfiguration?

        public init(base: URL) { self.base = base }
    }

    public let settings: Settings
    public let destination: String

    public init(settings: Settings, destination: String) {
        self.settings = settings; self.destination = destination
    }

    private func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(10), read: settings.timeout)
        if let tls = settings.tls { configuration.tlsConfiguration = tls }
        configuration.redirectConfiguration = .disallow    // never send images or credentials elsewhere
        configuration.httpVersion = .http1Only
        // A refused connection fails the request now; the spool retries on its own schedule.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    private var studiesURL: String {
        let base = settings.base.absoluteString
        return (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/studies"
    }

    public func verify() async throws -> String {
        let client = makeClient()
        var request = HTTPClientRequest(url: studiesURL + "?limit=1")
        request.headers.add(name: "Accept", value: "application/dicom+json")
        if let value = settings.authorization.headerValue { request.headers.add(name: "Authorization", value: value) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: settings.timeout)
            _ = try? await response.body.collect(upTo: 1 << 20)
            try? await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw STOWError.connection(explain(error))
        }
        switch response.status.code {
        case 200..<300: return "DICOMweb \(settings.base.absoluteString): HTTP \(response.status.code) (authorization: \(settings.authorization))"
        case 401, 403: throw STOWError.http(response.status.code, "the server refused our credentials (\(settings.authorization))")
        case 404: throw STOWError.http(404, "no DICOMweb service at \(studiesURL)")
        default: throw STOWError.http(response.status.code, response.status.reasonPhrase)
        }
    }

    public func deliver(_ instances: [SpooledInstance], from spool: URL,
                        report: @escaping @Sendable (SpooledInstance, Spool.Result) async -> Void) async {
        let client = makeClient()
        let batches = STOWSender.batches(instances, maxBytes: settings.batchBytes)
        let queue = BatchQueue(batches)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, min(settings.connections, batches.count)) {
                group.addTask {
                    while let batch = await queue.next() {
                        for (instance, result) in await post(batch, from: spool, client: client) {
                            await report(instance, result)
                        }
                    }
                }
            }
        }
        try? await client.shutdown()
    }

    /// Groups instances so each request carries about `maxBytes`.
    static func batches(_ instances: [SpooledInstance], maxBytes: Int64) -> [[SpooledInstance]] {
        var batches: [[SpooledInstance]] = []
        var current: [SpooledInstance] = []
        var bytes: Int64 = 0
        for instance in instances {
            if !current.isEmpty && bytes + instance.size > maxBytes {
                batches.append(current); current = []; bytes = 0
            }
            current.append(instance); bytes += instance.size
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    /// One request; every instance of the batch gets a result.
    private func post(_ batch: [SpooledInstance], from spool: URL, client: HTTPClient) async -> [(SpooledInstance, Spool.Result)] {
        let body: MultipartBody
        do { body = try MultipartBody(files: batch.map { spool.appendingPathComponent($0.path) }) } catch {
            return batch.map { ($0, .failed(.deliveryUnreadable, reason: "the spooled file cannot be read: \(error)")) }
        }
        var request = HTTPClientRequest(url: studiesURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "multipart/related; type=\"application/dicom\"; boundary=\(body.boundary)")
        request.headers.add(name: "Accept", value: "application/dicom+json")
        if let value = settings.authorization.headerValue { request.headers.add(name: "Authorization", value: value) }
        request.body = .stream(body, length: .known(body.length))
        do {
            let response = try await client.execute(request, timeout: settings.timeout)
            let bytes = try await response.body.collect(upTo: 16 << 20)
            // The server refused the request as a whole: one instance at a time finds the culprit.
            if batch.count > 1 && [400, 413, 415].contains(response.status.code) {
                var results: [(SpooledInstance, Spool.Result)] = []
                for instance in batch { results += await post([instance], from: spool, client: client) }
                return results
            }
            return STOWResponse.results(status: response.status.code, reason: response.status.reasonPhrase,
                                        body: Data(bytes.readableBytesView), batch: batch)
        } catch {
            return batch.map { ($0, .retry("STOW-RS request failed: \(explain(error))")) }
        }
    }

    /// A failed request in words: the network's and TLS's reasons, then the HTTP client's own.
    func explain(_ error: any Error) -> String {
        let peer = "\(settings.base.host ?? "the server"):\(settings.base.port ?? (settings.base.scheme == "https" ? 443 : 80))"
        if let why = ConnectionFailure.explain(error, peer: peer) { return why }
        guard let error = error as? HTTPClientError else { return "\(error)" }
        switch error {
        case .connectTimeout: return "timed out: no answer from \(peer) (the host is down, or a firewall drops the connection)"
        case .tlsHandshakeTimeout: return "timed out in the TLS handshake with \(peer)"
        case .readTimeout, .deadlineExceeded: return "timed out: \(peer) did not answer within \(settings.timeout.nanoseconds / 1_000_000_000) s"
        case .remoteConnectionClosed: return "the connection was closed by \(peer) before it answered"
        default: return "\(error)"
        }
    }
}

public enum STOWError: Error, CustomStringConvertible {
    case http(UInt, String)
    /// No answer: why, in words.
    case connection(String)

    public var description: String {
        switch self {
        case let .http(code, why): "HTTP \(code): \(why)"
        case let .connection(why): why
        }
    }
}

/// Reads a STOW-RS response (PS3.18 §10.5.3) into one result per instance of the request.
enum STOWResponse {
    static func results(status: UInt, reason: String, body: Data, batch: [SpooledInstance]) -> [(SpooledInstance, Spool.Result)] {
        switch status {
        case 200, 202, 409:
            break
        case 400, 413, 415:
            // Sent alone and still refused: the server cannot take this instance.
            return batch.map { ($0, .failed(.deliveryRefused, reason: "the server answered HTTP \(status) \(reason)")) }
        case 401, 403:
            return batch.map { ($0, .retry("HTTP \(status): the server refused our credentials; check [dicomweb] in the configuration")) }
        default:
            return batch.map { ($0, .retry("HTTP \(status) \(reason)")) }
        }
        var referenced: [String: UInt16?] = [:]
        var failed: [String: UInt16] = [:]
        if let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] {
            for item in sequence(object["00081199"]) {
                guard let uid = string(item["00081155"]) else { continue }
                referenced[uid] = integer(item["00081196"])   // Warning Reason
            }
            for item in sequence(object["00081198"]) {
                guard let uid = string(item["00081155"]) else { continue }
                failed[uid] = integer(item["00081197"]) ?? 0xC000   // Failure Reason
            }
        }
        return batch.map { instance in
            if let code = failed[instance.sopInstanceUID] {
                let status = DIMSEStatus(code: code)
                switch status.kind {
                case .duplicate: return (instance, .stored(detail: "the server already holds it (\(status))"))
                case .transientFailure: return (instance, .retry("the server answered \(status)"))
                default: return (instance, .failed(.deliveryRefused, reason: "the server answered \(status)"))
                }
            }
            if let warning = referenced[instance.sopInstanceUID] {
                return (instance, .stored(detail: warning.map { "warning \(DIMSEStatus(code: $0))" }))
            }
            // 200 means every instance was stored, whether listed or not.
            if status == 200 { return (instance, .stored(detail: nil)) }
            return (instance, .retry("HTTP \(status): the response does not mention this instance"))
        }
    }

    private static func sequence(_ attribute: Any?) -> [[String: Any]] {
        ((attribute as? [String: Any])?["Value"] as? [Any])?.compactMap { $0 as? [String: Any] } ?? []
    }

    private static func string(_ attribute: Any?) -> String? {
        ((attribute as? [String: Any])?["Value"] as? [Any])?.first as? String
    }

    private static func integer(_ attribute: Any?) -> UInt16? {
        guard let value = ((attribute as? [String: Any])?["Value"] as? [Any])?.first else { return nil }
        if let number = value as? NSNumber { return UInt16(truncatingIfNeeded: number.intValue) }
        return nil
    }
}

/// Batches not yet taken by a connection.
actor BatchQueue {
    private var batches: [[SpooledInstance]]

    init(_ batches: [[SpooledInstance]]) { self.batches = batches.reversed() }

    func next() -> [SpooledInstance]? { batches.popLast() }
}
