import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// Why a request over the edge link did not succeed.
public enum EdgeLinkError: Error, Equatable, CustomStringConvertible {
    /// No answer: connection refused, TLS refused, timeout. The link polls on and tries again.
    case unreachable(String)
    /// The edge answered with an error status (and its error code, when the body had one).
    case refused(status: UInt, code: String?)
    /// The edge's answer is not what the contract says.
    case invalidResponse(String)

    public var description: String {
        switch self {
        case .unreachable(let why): "the edge cannot be reached: \(why)"
        case .refused(let status, let code): "the edge refused the request (HTTP \(status)\(code.map { ", \($0)" } ?? ""))"
        case .invalidResponse(let why): "the edge's answer is not usable: \(why)"
        }
    }
}

/// The requests of the edge link (/link/v1), over AsyncHTTPClient with core's link certificate. Bodies are read up to
/// fixed bounds; upload bytes are streamed to the caller, never collected.
struct EdgeLinkClient: Sendable {
    static let listLimit = 32 << 20
    static let replyLimit = 64 << 10

    let base: String
    let client: HTTPClient
    let timeout: TimeAmount

    init(url: String, tls: TLSConfiguration, timeout: TimeAmount) {
        base = url.hasSuffix("/") ? String(url.dropLast()) : url
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        configuration.timeout = .init(connect: .seconds(10), read: timeout)
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        // An edge that refuses connections fails the request now; the next poll tries again.
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        self.timeout = timeout
    }

    func shutdown() async {
        try? await client.shutdown()
    }

    func putPatient(ref: Int64, _ patient: EdgeLinkWire.Patient) async throws(EdgeLinkError) {
        try await send(.PUT, "/link/v1/patients/\(ref)", json: try encode(patient))
    }

    func unlock(ref: Int64) async throws(EdgeLinkError) {
        try await send(.POST, "/link/v1/patients/\(ref)/unlock")
    }

    /// Removes the patient's second factor and sessions at the edge; a patient the edge never had needs nothing.
    func resetSecondFactor(ref: Int64) async throws(EdgeLinkError) {
        try await send(.POST, "/link/v1/patients/\(ref)/reset-second-factor")
    }

    func submittedBatches() async throws(EdgeLinkError) -> [EdgeLinkWire.Batch] {
        try await fetch(EdgeLinkWire.BatchList.self, "/link/v1/batches?state=submitted").batches
    }

    func received(batch: UUID) async throws(EdgeLinkError) {
        try await send(.POST, "/link/v1/batches/\(batch.uuidString.lowercased())/received")
    }

    func putResult(batch: UUID, _ result: EdgeResult) async throws(EdgeLinkError) {
        try await send(.PUT, "/link/v1/batches/\(batch.uuidString.lowercased())/result", json: try encode(result))
    }

    func events(after seq: Int64, limit: Int) async throws(EdgeLinkError) -> EdgeLinkWire.EventList {
        try await fetch(EdgeLinkWire.EventList.self, "/link/v1/events?after=\(seq)&limit=\(limit)")
    }

    /// The plaintext of one upload: the response, whose body the caller streams (and must consume or drop).
    func download(batch: UUID, upload: String) async throws(EdgeLinkError) -> HTTPClientResponse {
        let response = try await execute(.GET, "/link/v1/batches/\(batch.uuidString.lowercased())/uploads/\(upload)", json: nil)
        guard response.status == .ok else { throw await refusal(response) }
        return response
    }

    // MARK: -

    private func send(_ method: HTTPMethod, _ path: String, json: ByteBuffer? = nil) async throws(EdgeLinkError) {
        let response = try await execute(method, path, json: json)
        guard (200..<300).contains(response.status.code) else { throw await refusal(response) }
        _ = try? await response.body.collect(upTo: Self.replyLimit)
    }

    private func fetch<T: Decodable>(_ type: T.Type, _ path: String) async throws(EdgeLinkError) -> T {
        let response = try await execute(.GET, path, json: nil)
        guard response.status == .ok else { throw await refusal(response) }
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: Self.listLimit) } catch {
            throw .invalidResponse("the body of \(path) is larger than \(Self.listLimit) bytes or was cut off")
        }
        do { return try JSONDecoder().decode(T.self, from: Data(buffer: body)) } catch {
            throw .invalidResponse("\(path): \(error)")
        }
    }

    private func execute(_ method: HTTPMethod, _ path: String, json: ByteBuffer?) async throws(EdgeLinkError) -> HTTPClientResponse {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(json)
        }
        do {
            return try await client.execute(request, timeout: timeout)
        } catch {
            throw .unreachable(Self.describe(error))
        }
    }

    private func refusal(_ response: HTTPClientResponse) async -> EdgeLinkError {
        let body = try? await response.body.collect(upTo: Self.replyLimit)
        let code = body.flatMap { try? JSONDecoder().decode(EdgeLinkWire.Failure.self, from: Data(buffer: $0)) }?.error
        return .refused(status: response.status.code, code: code.map { String($0.prefix(64)) })
    }

    private func encode(_ value: some Encodable) throws(EdgeLinkError) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return ByteBuffer(data: try encoder.encode(value)) } catch { throw .invalidResponse("cannot encode a request: \(error)") }
    }

    /// A transport error in a line: NIO's and NIOSSL's descriptions name the peer and the failing step, no data.
    static func describe(_ error: any Error) -> String {
        String(String(describing: error).prefix(300))
    }
}
