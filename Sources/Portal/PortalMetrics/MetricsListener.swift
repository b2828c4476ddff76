import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A process's Prometheus metrics over plain HTTP at `GET /metrics` (text format 0.0.4), on the address
/// `metrics_listen` names — loopback unless a scraper elsewhere needs it; nothing else is served. `render` makes the
/// text at each scrape.
public struct MetricsListener: Service {
    let application: Application<RouterResponder<BasicRequestContext>>

    /// - Parameter onListening: told the bound port (useful with port 0).
    public init(host: String, port: Int, logger: Logger, render: @escaping @Sendable () async -> String,
                onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        let router = Router()
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: await render())))
        }
        application = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
                                  onServerRunning: { channel in
                                      let bound = channel.localAddress?.port ?? 0
                                      logger.info("metrics listening", metadata: ["host": "\(host)", "port": "\(bound)"])
                                      await onListening(bound)
                                  }, logger: logger)
    }

    public func run() async throws {
        try await application.run()
    }
}
