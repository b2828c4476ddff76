import Foundation
import Mail
import TestSupport
import XCTest

/// smtp_peer.py (aiosmtpd, or a hand-written hostile relay) on a free loopback port, stopped when released.
final class SMTPPeer: @unchecked Sendable {
    let directory: TestSupport.TemporaryDirectory
    let port: Int
    private let process: PortalProcess

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("smtp_peer.py").path

    init(_ arguments: [String] = []) throws {
        let (python, environment) = try TestSupport.pythonWith(["aiosmtpd"])
        directory = try TestSupport.TemporaryDirectory("mail-test")
        port = TestSupport.freePort()
        process = try PortalProcess(python, [Self.script, String(port), directory.url.path] + arguments, log: directory.path("peer.log"),
                                    environment: environment)
        try process.waitListening(port, seconds: 30)
    }

    /// The messages received so far: envelope (JSON) and data, in order.
    var received: [(envelope: [String: Any], data: Data)] {
        (1...).lazy.map { number -> (envelope: [String: Any], data: Data)? in
            guard let json = try? Data(contentsOf: self.directory.url.appendingPathComponent("\(number).json")),
                  let envelope = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
                  let data = try? Data(contentsOf: self.directory.url.appendingPathComponent("\(number).eml")) else { return nil }
            return (envelope, data)
        }.prefix { $0 != nil }.compactMap { $0 }
    }

    var log: String { process.output }

    func stop() { process.stop(grace: 10) }
}

/// A CA made with openssl for one test, and a relay certificate signed by it (by default for 127.0.0.1 and localhost).
struct RelayCertificates {
    let directory: TestSupport.TemporaryDirectory
    let ca: String
    let certificate: String
    let key: String

    init(subjectAltName: String = "DNS:localhost,IP:127.0.0.1") throws {
        let directory = try TestSupport.TemporaryDirectory("mail-ca")
        self.directory = directory
        ca = directory.path("ca.pem")
        certificate = directory.path("relay.pem")
        key = directory.path("relay.key")
        let caKey = directory.path("ca.key"), request = directory.path("relay.csr"), extensions = directory.path("relay.ext")
        try TestSupport.run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", ca, "-days", "2",
                                        "-subj", "/CN=Mail test CA"])
        try Data("subjectAltName=\(subjectAltName)\n".utf8).write(to: URL(fileURLWithPath: extensions))
        try TestSupport.run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=localhost"])
        try TestSupport.run("openssl", ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", certificate,
                                        "-days", "2", "-extfile", extensions])
    }

    var peerArguments: [String] { ["--cert", certificate, "--key", key] }
}

/// Sends `message` and returns the error it ended with (nil: accepted).
func sendResult(_ client: SMTPClient, _ message: MailMessage) async -> MailError? {
    do {
        try await client.send(message)
        return nil
    } catch {
        return error
    }
}
