import Foundation
import XCTest

/// DCMTK's storescp as a PACS on loopback (with TCP_NODELAY=1, else it adds ~40 ms per instance),
/// receiving into a temporary directory, stopped when released.
public final class StoreSCPPeer: @unchecked Sendable {
    public let directory: TestSupport.TemporaryDirectory
    public let port: Int
    public let aeTitle: String
    private let process: Process

    /// `arguments` go before the port, e.g. `["+xa"]` (accept every syntax), `["--ignore"]`.
    public init(aeTitle: String = "STORESCP", arguments: [String] = ["+xa"]) throws {
        let storescp = try TestSupport.tool("storescp")
        directory = try TestSupport.TemporaryDirectory("storescp")
        self.aeTitle = aeTitle
        var started: (Process, Int)?
        for _ in 0..<5 {
            let port = Int.random(in: 20_000...40_000)
            try FileManager.default.createDirectory(atPath: directory.path("in"), withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: storescp)
            process.arguments = ["-aet", aeTitle, "-od", directory.path("in")] + arguments + [String(port)]
            process.environment = ProcessInfo.processInfo.environment.merging(["TCP_NODELAY": "1"]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if (try? Peers.wait("storescp", log: "/dev/null", process: process, seconds: 10) { Peers.tcpConnects(UInt16(port)) }) != nil {
                started = (process, port)
                break
            }
            Peers.stop(process)
        }
        guard let started else { throw XCTSkip("storescp did not come up on loopback") }
        (process, port) = started
    }

    /// The files it received.
    public var received: [URL] {
        let root = directory.url.appendingPathComponent("in")
        return ((try? FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)) ?? []).sorted { $0.path < $1.path }
    }

    public func stop() { Peers.stop(process) }

    deinit { Peers.stop(process) }
}
