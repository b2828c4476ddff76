import Foundation
import Mail
import TestSupport
import XCTest

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
