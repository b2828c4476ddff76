import Analytics
import Foundation
import ServiceLifecycle
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The read-only dashboard on loopback: `/` (HTML), `/api/stats` (JSON), `/metrics` (Prometheus).
/// It binds 127.0.0.1 only, answers GET alone, and refuses other Host names (DNS rebinding).
public struct DashboardServer: Sendable {
    public struct Sources: Sendable {
        public var statistics: @Sendable () -> Statistics
        public var spoolPending: @Sendable () -> Int?
        public var auditQueued: @Sendable () -> Int?
        public var station: String

        public init(statistics: @escaping @Sendable () -> Statistics, spoolPending: @escaping @Sendable () -> Int?,
                    auditQueued: @escaping @Sendable () -> Int?, station: String) {
            self.statistics = statistics; self.spoolPending = spoolPending; self.auditQueued = auditQueued; self.station = station
        }
    }

    public let port: Int
    public let sources: Sources

    public init(port: Int, sources: Sources) { self.port = port; self.sources = sources }

    /// Serves until the task is cancelled; `onListening` gets the bound port (useful with port 0).
    public func run(onListening: @escaping @Sendable (Int) -> Void) async throws {
        try await service(onListening: onListening).run()
    }

    /// The server as a service of a `ServiceGroup`: it stops on the group's graceful shutdown.
    public func service(onListening: @escaping @Sendable (Int) -> Void) -> some Service {
        let router = Router()
        let sources = self.sources
        router.add(middleware: LoopbackOnly())
        router.get("/") { _, _ in
            DashboardServer.response(DashboardPage.render(sources.statistics(), station: sources.station, generated: Date()),
                                     type: "text/html; charset=utf-8")
        }
        router.get("/api/stats") { _, _ in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = (try? encoder.encode(sources.statistics())) ?? Data("{}".utf8)
            return DashboardServer.response(String(decoding: data, as: UTF8.self), type: "application/json")
        }
        router.get("/metrics") { _, _ in
            DashboardServer.response(Metrics.render(sources.statistics(), spoolPending: sources.spoolPending(), auditQueued: sources.auditQueued()),
                                     type: "text/plain; version=0.0.4; charset=utf-8")
        }
        var logger = Logger(label: "kiosk-agent.dashboard")
        logger.logLevel = .warning
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "kiosk-agent"),
                           onServerRunning: { channel in onListening(channel.localAddress?.port ?? 0) }, logger: logger)
    }

    static func response(_ body: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Only GET/HEAD, and only for a loopback Host header: a web page elsewhere cannot reach the
/// dashboard through a rebinding DNS name.
struct LoopbackOnly: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            return Response(status: .methodNotAllowed, headers: [.allow: "GET, HEAD"])
        }
        let host = (request.head.authority ?? "").lowercased()
        let name = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }) + "]" : String(host.split(separator: ":").first ?? "")
        guard ["127.0.0.1", "localhost", "[::1]"].contains(name) else {
            return Response(status: .forbidden, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "forbidden host\n")))
        }
        return try await next(request, context)
    }
}
