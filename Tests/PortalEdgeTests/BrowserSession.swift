import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import XCTest

/// What a browser on the portal's page does at the HTTP level: keeps the session cookie, sends the CSRF token, and
/// Origin / Sec-Fetch-Site as Chromium does for same-origin fetches.
final class BrowserSession: @unchecked Sendable {
    let edge: EdgeTestServer
    var cookie: String?
    var csrf: String?

    init(_ edge: EdgeTestServer) { self.edge = edge }

    struct Reply {
        let status: HTTPResponseStatus
        let headers: HTTPHeaders
        let body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var error: String? { json["error"] as? String }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    @discardableResult
    func request(_ method: HTTPMethod, _ path: String, json: Any? = nil, body: ByteBuffer? = nil, headers extra: [(String, String)] = [],
                 origin: String? = "self", fetchSite: String? = "same-origin", csrf sendCSRF: Bool = true) async throws -> Reply {
        var request = HTTPClientRequest(url: edge.origin + path)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: "__Host-session=\(cookie)") }
        if let origin { request.headers.add(name: "Origin", value: origin == "self" ? edge.origin : origin) }
        if let fetchSite { request.headers.add(name: "Sec-Fetch-Site", value: fetchSite) }
        if sendCSRF, let csrf { request.headers.add(name: "X-CSRF-Token", value: csrf) }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        } else if let body {
            request.body = .bytes(body)
        }
        let response = try await edge.browserClient.execute(request, timeout: .seconds(60))
        let collected = try await response.body.collect(upTo: 16 << 20)
        for header in response.headers[canonicalForm: "Set-Cookie"] {
            let first = header.split(separator: ";").first.map(String.init) ?? ""
            if first.hasPrefix("__Host-session=") {
                let value = String(first.dropFirst("__Host-session=".count))
                cookie = value.isEmpty ? nil : value
            }
        }
        let reply = Reply(status: response.status, headers: response.headers, body: Data(collected.readableBytesView))
        if let token = reply.json["csrf"] as? String { csrf = token }
        return reply
    }

    /// GET /api/session, as every page does first.
    @discardableResult
    func begin() async throws -> Reply { try await request(.GET, "/api/session") }
}
