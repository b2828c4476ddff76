import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import XCTest

/// One of the portal's two browser sites (patients' edge, staff console) as a test started it.
public protocol BrowserSite: AnyObject, Sendable {
    /// What browsers send in Origin.
    var origin: String { get }
    /// Where requests go (the console's test answers on 127.0.0.1 while its origin names localhost).
    var browserURL: String { get }
    /// Trusts the site's certificate.
    var browserClient: HTTPClient { get }
}

/// What a browser on the site's page does at the HTTP level: keeps the session cookie, sends the CSRF token, and
/// Origin / Sec-Fetch-Site as Chromium does for same-origin fetches.
public final class TestBrowser<Site: BrowserSite>: @unchecked Sendable {
    public let site: Site
    public var cookie: String?
    public var csrf: String?
    /// The last Set-Cookie header, as sent.
    public var lastSetCookie: String?

    public init(_ site: Site) { self.site = site }

    public struct Reply {
        public let status: HTTPResponseStatus
        public let headers: HTTPHeaders
        public let body: Data
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        public var error: String? { json["error"] as? String }
        public var state: String? { json["state"] as? String }
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    @discardableResult
    public func request(_ method: HTTPMethod, _ path: String, json: Any? = nil, body: ByteBuffer? = nil, headers extra: [(String, String)] = [],
                        origin: String? = "self", fetchSite: String? = "same-origin", csrf sendCSRF: Bool = true) async throws -> Reply {
        var request = HTTPClientRequest(url: site.browserURL + path)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: "__Host-session=\(cookie)") }
        if let origin { request.headers.add(name: "Origin", value: origin == "self" ? site.origin : origin) }
        if let fetchSite { request.headers.add(name: "Sec-Fetch-Site", value: fetchSite) }
        if sendCSRF, let csrf { request.headers.add(name: "X-CSRF-Token", value: csrf) }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        } else if let body {
            request.body = .bytes(body)
        }
        let response = try await site.browserClient.execute(request, timeout: .seconds(60))
        let collected = try await response.body.collect(upTo: 16 << 20)
        for header in response.headers[canonicalForm: "Set-Cookie"] {
            lastSetCookie = String(header)
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
    public func begin() async throws -> Reply { try await request(.GET, "/api/session") }
}

/// A clock tests move forward (timeouts, step-up validity, TOTP steps, throttles).
public final class TestClock: Sendable {
    private let offset = Mutex<TimeInterval>(0)
    public init() {}
    public func advance(_ seconds: TimeInterval) { offset.withLock { $0 += seconds } }
    public var now: Date { Date().addingTimeInterval(offset.withLock { $0 }) }
}

/// The sign-in rules both sites share (`SignInThrottle`, the second-factor lockout), as each site's tests check them.
extension TestBrowser {
    /// Posts `wrong` to `path` until the site throttles (each refusal before is `signin.failed`; at most six tries),
    /// which says when to try again; then `right`, which waits out the delay too.
    public func assertSignInThrottled(_ path: String, wrong: [String: Any], right: [String: Any],
                                      file: StaticString = #filePath, line: UInt = #line) async throws {
        var reply: Reply?
        for _ in 0..<6 {
            reply = try await request(.POST, path, json: wrong)
            if reply?.error == "signin.throttled" { break }
            XCTAssertEqual(reply?.error, "signin.failed", file: file, line: line)
        }
        XCTAssertEqual(reply?.error, "signin.throttled", file: file, line: line)
        XCTAssertNotNil(reply?.headers["Retry-After"].first, file: file, line: line)
        reply = try await request(.POST, path, json: right)
        XCTAssertEqual(reply?.error, "signin.throttled", "even the right password waits out the delay", file: file, line: line)
    }

    /// Five wrong authenticator codes: four are refused, the fifth locks the account.
    public func assertWrongCodesLock(file: StaticString = #filePath, line: UInt = #line) async throws {
        for attempt in 1...5 {
            let reply = try await request(.POST, "/api/signin/totp", json: ["code": "000000"])
            XCTAssertEqual(reply.error, attempt < 5 ? "second-factor.failed" : "account.locked", file: file, line: line)
        }
    }
}
