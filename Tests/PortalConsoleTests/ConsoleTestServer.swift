import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import PortalConsole
import PortalPKI
import PortalStore
import PortalTestSupport
import ServiceLifecycle
import Synchronization
import TestSupport
import XCTest

/// The real console over HTTPS on a loopback port, with its made certificate, its pages from the source tree (the
/// shared modules from the edge's), and the staff area.
final class ConsoleTestServer: BrowserSite, @unchecked Sendable {
    let directory: TestSupport.TemporaryDirectory
    let clock = TestClock()
    let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>
    let browserClient: HTTPClient
    let database: PortalDatabase
    var origin: String { "https://localhost:\(port)" }
    var browserURL: String { "https://127.0.0.1:\(port)" }
    var rpID: String { "localhost" }

    init(database: PortalDatabase, areas: (String) -> [any ConsoleArea] = { _ in [] }) async throws {
        self.database = database
        directory = try TestSupport.TemporaryDirectory("console")
        let port = TestSupport.freePort()
        var settings = ConsoleServer.Settings()
        settings.port = port
        settings.organization = "Test Hospital"
        settings.scryptCost = 1 << 10
        settings.webRoot = TestSupport.packageRoot.appendingPathComponent("Sources/Portal/PortalConsole/Web")
        settings.sharedWebRoot = TestSupport.packageRoot.appendingPathComponent("Sources/Portal/PortalEdge/Web")
        var logger = Logger(label: "console-test")
        logger.logLevel = .critical
        let origin = settings.origin
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let clock = clock
        let server = try ConsoleServer(settings: settings, database: database, stateDirectory: URL(fileURLWithPath: directory.path("state")),
                                       areas: [StaffAPI(database: database, logger: logger, origin: origin)] + areas(origin), logger: logger,
                                       now: { clock.now }, onRunning: { continuation.yield($0) })
        group = ServiceGroup(services: [server], gracefulShutdownSignals: [], logger: logger)
        let group = group
        task = Task { try await group.run() }
        var bound: Int?
        for await value in ports { bound = value; break }
        guard bound == port else { throw XCTSkip("the console did not start") }
        self.port = port
        browserClient = try testHTTPClient(trusting: directory.path("state/tls/\(PortalAuthority.certificateFile)"))
    }

    func stop() async throws {
        try await browserClient.shutdown()
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        directory.cleanUp()
    }
}

/// A browser on the console's page (`TestBrowser`).
typealias ConsoleBrowser = TestBrowser<ConsoleTestServer>

extension TestBrowser where Site == ConsoleTestServer {
    var server: ConsoleTestServer { site }
}

/// A passkey held by PyPI fido2 (Tests/TestSupport/fido2_peer.py): registered at enrolment, used at sign-in.
struct Fido2Passkey {
    let key: String
    let credentialID: String
    var counter: UInt32 = 0

    static func peer(_ arguments: [String]) throws -> [String: Any] {
        let (python, environment) = try TestSupport.pythonWith(["fido2", "cryptography"])
        let result = try TestSupport.run(python, [TestSupport.fido2Peer] + arguments, environment: environment)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any])
    }

    /// Answers `options` (the server's `{"publicKey": ...}`) with a new passkey; returns the passkey and the credential JSON.
    static func register(_ options: [String: Any], rpID: String, origin: String) throws -> (Fido2Passkey, [String: Any]) {
        let publicKey = try XCTUnwrap(options["publicKey"] as? [String: Any])
        XCTAssertEqual((publicKey["rp"] as? [String: Any])?["id"] as? String, rpID)
        let made = try peer(["register", rpID, origin, try XCTUnwrap(publicKey["challenge"] as? String)])
        let credential = try XCTUnwrap(made["credential"] as? [String: Any])
        return (Fido2Passkey(key: try XCTUnwrap(made["key"] as? String), credentialID: try XCTUnwrap(credential["id"] as? String)), credential)
    }

    mutating func assert(_ options: [String: Any], rpID: String, origin: String) throws -> [String: Any] {
        let publicKey = try XCTUnwrap(options["publicKey"] as? [String: Any])
        counter += 1
        return try Self.peer(["assert", rpID, origin, try XCTUnwrap(publicKey["challenge"] as? String), key, credentialID, String(counter)])
    }
}
