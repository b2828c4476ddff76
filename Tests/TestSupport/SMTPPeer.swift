import Foundation
import XCTest

/// smtp_peer.py (aiosmtpd, or a hand-written hostile relay) on a free loopback port, stopped when released: the
/// hospital's mail relay for the Mail tests and the portal's invitations.
public final class SMTPPeer: @unchecked Sendable {
    public let directory: TestSupport.TemporaryDirectory
    public let port: Int
    private let process: PortalProcess

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("smtp_peer.py").path

    /// `arguments`: smtp_peer.py's options (TLS, AUTH, refused recipients, a hostile script).
    public init(_ arguments: [String] = []) throws {
        let (python, environment) = try TestSupport.pythonWith(["aiosmtpd"])
        directory = try TestSupport.TemporaryDirectory("mail-test")
        port = TestSupport.freePort()
        process = try PortalProcess(python, [Self.script, String(port), directory.url.path] + arguments, log: directory.path("peer.log"),
                                    environment: environment)
        try process.waitListening(port, seconds: 30)
    }

    /// The messages received so far: envelope (JSON) and data, in order.
    public var received: [(envelope: [String: Any], data: Data)] {
        (1...).lazy.map { number -> (envelope: [String: Any], data: Data)? in
            guard let json = try? Data(contentsOf: self.directory.url.appendingPathComponent("\(number).json")),
                  let envelope = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
                  let data = try? Data(contentsOf: self.directory.url.appendingPathComponent("\(number).eml")) else { return nil }
            return (envelope, data)
        }.prefix { $0 != nil }.compactMap { $0 }
    }

    public var log: String { process.output }

    public func stop() { process.stop(grace: 10) }
}
