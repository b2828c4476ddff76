import Foundation
import Logging
import PortalCore
import PortalStore
import PostgresNIO
import ServiceLifecycle
import TestSupport
import XCTest

/// Core's `EdgeLink` polling a real edge (`EdgeTestServer`) every 200 ms for the length of `body`; both are stopped
/// afterwards, whether `body` passed or threw.
enum LinkedEdge {
    static func run(_ database: PortalDatabase, label: String, _ body: (EdgeTestServer) async throws -> Void) async throws {
        let edge = try await EdgeTestServer()
        let staging = try TestSupport.TemporaryDirectory("core-staging")
        defer { staging.cleanUp() }
        var logger = Logger(label: label)
        logger.logLevel = .critical
        var configuration = EdgeLink.Configuration(url: edge.link, pollInterval: .milliseconds(200), stagingDirectory: staging.path("s"),
                                                   maxUploadSize: 1 << 30)
        configuration.requestTimeout = .seconds(30)
        let link = try EdgeLink(configuration: configuration, database: database, tls: try edge.linkAuthority.clientTLSConfiguration(), logger: logger)
        let group = ServiceGroup(services: [link], gracefulShutdownSignals: [], logger: logger)
        let running = Task { try await group.run() }
        do {
            try await body(edge)
        } catch {
            XCTFail(String(reflecting: error))
            await group.triggerGracefulShutdown(); _ = try? await running.value
            try await edge.stop()
            throw error
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        try await edge.stop()
    }

    /// The first column of the first row as text (nil for none, or NULL).
    static func single(_ database: PortalDatabase, _ sql: String) async throws -> String? {
        for try await value in try await database.client.query(PostgresQuery(unsafeSQL: sql)).decode(String?.self) { return value }
        return nil
    }
}
