import Foundation
import TestSupport
import XCTest

/// `ingest` into real PACS peers on loopback, then the peer is asked what it holds: Orthanc over
/// DIMSE and STOW-RS (its REST API lists the instances), storescp that rejects a presentation
/// context, one that answers failure statuses, and one behind DICOM TLS with a CA the test makes.
final class DestinationTests: XCTestCase {
    static func sampleDisc(_ dir: TestSupport.TemporaryDirectory, ct: Int = 6, mr: Int = 3, seed: Int = 1) throws -> String {
        let out = dir.path("sample-\(seed)-\(ct).iso")
        try TestSupport.run(try TestSupport.tool("python3"),
                            [TestSupport.packageRoot.appendingPathComponent("scripts/make-sample-disc").path,
                             "--out", out, "--ct-images", String(ct), "--mr-images", String(mr), "--seed", String(seed)],
                            environment: ["KIOSK_TESTDATA": TestSupport.testDataRoot.path])
        return out
    }

    static func files(_ report: [String: Any]) -> [[String: Any]] { report["files"] as? [[String: Any]] ?? [] }

    /// SOP Instance UIDs the report says were stored at the destination.
    static func stored(_ report: [String: Any]) -> [String] {
        Set(files(report).filter { $0["delivery"] as? String == "stored" }.compactMap { $0["sopInstanceUID"] as? String }).sorted()
    }

    static func codes(_ report: [String: Any]) -> [String] {
        files(report).flatMap { ($0["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String } }
    }

    private func config(_ dir: TestSupport.TemporaryDirectory, _ text: String) throws -> String {
        let path = dir.path("kiosk-\(UUID().uuidString.prefix(8)).toml")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testOrthancOverDIMSEAndSTOWHoldsExactlyTheCleanInstances() throws {
        let dir = try TestSupport.TemporaryDirectory("orthanc-ingest")
        _ = try TestSupport.pydicomTestFiles()
        let tree = try IngestFixtures.makeTree(in: dir)
        let iso = try IngestFixtures.iso(tree, in: dir)
        for (index, mode) in ["dimse", "stow"].enumerated() {
            let orthanc = try OrthancPeer(users: mode == "stow" ? ["kiosk": "s3cret-pass"] : [:])
            let password = dir.path("password-\(index)")
            try Data("s3cret-pass\n".utf8).write(to: URL(fileURLWithPath: password))
            let configuration = try config(dir, mode == "stow" ? "[dicomweb]\nusername = \"kiosk\"\npassword_file = \"\(password)\"\n" : "")
            let destination = mode == "stow" ? orthanc.dicomwebURL : orthanc.dicomURL
            let echo = try IngestFixtures.agent(["echo", destination, "--config", configuration])
            XCTAssertEqual(echo.status, 0, "\(mode): \(echo.stderrText)")

            let state = dir.path("state-\(mode)")
            let reportPath = dir.path("report-\(mode).json")
            let run = try IngestFixtures.agent(["ingest", iso, "--destination", destination, "--state-dir", state,
                                                "--config", configuration, "--report", reportPath])
            let report = try IngestFixtures.report(reportPath)
            let stored = Self.stored(report)
            let rejected = Self.files(report).filter { $0["verdict"] as? String == "rejected" }
            let undelivered = Self.files(report).filter { ["failed", "spooled"].contains($0["delivery"] as? String) }.map { file in
                "\(file["path"] ?? ""): " + (file["findings"] as? [[String: Any]] ?? []).compactMap { finding -> String? in
                    guard let code = finding["code"] as? String, code.hasPrefix("delivery") || code.hasPrefix("pacs") else { return nil }
                    return "\(code) \(finding["detail"] ?? "")"
                }.joined(separator: "; ")
            }
            XCTAssertEqual(run.status, rejected.isEmpty ? 0 : 3, "\(mode): \(run.stderrText)\n\(undelivered.joined(separator: "\n"))")
            XCTAssertGreaterThan(stored.count, 10, mode)
            let user = mode == "stow" ? "kiosk:s3cret-pass" : nil
            XCTAssertEqual(try orthanc.sopInstanceUIDs(user: user), stored, "\(mode): Orthanc holds exactly the delivered instances")
            XCTAssertFalse(run.stderrText.contains("s3cret"), "no secret in the output")
            XCTAssertFalse(try String(contentsOfFile: reportPath, encoding: .utf8).contains("s3cret"), "no secret in the report")

            // The same disc again: the spool knows what the PACS acknowledged; nothing is sent twice.
            let again = try IngestFixtures.agent(["ingest", iso, "--destination", destination, "--state-dir", state,
                                                  "--config", configuration, "--report", reportPath])
            XCTAssertEqual(again.status, run.status, again.stderrText)
            XCTAssertTrue(Self.codes(try IngestFixtures.report(reportPath)).contains("delivery.already-delivered"))
            XCTAssertEqual(try orthanc.sopInstanceUIDs(user: user), stored)
            let list = try IngestFixtures.agent(["spool", "list", "--state-dir", state])
            XCTAssertTrue(list.stdoutText.contains("\(stored.count) stored"), list.stdoutText)
        }
    }

    func testSTOWSendsTheBearerTokenAndAMissingOneLeavesTheStudySpooled() throws {
        let dir = try TestSupport.TemporaryDirectory("stow-bearer")
        // Orthanc checks the Authorization header itself, in a Lua request filter.
        let orthanc = try OrthancPeer(lua: """
            function IncomingHttpRequestFilter(method, uri, ip, username, httpHeaders)
              if string.sub(uri, 1, 10) == '/dicom-web' then
                return httpHeaders['authorization'] == 'Bearer t0ken-for-the-kiosk'
              end
              return true
            end
            """)
        let token = dir.path("token")
        try Data("t0ken-for-the-kiosk\n".utf8).write(to: URL(fileURLWithPath: token))
        let withToken = try config(dir, "[dicomweb]\nbearer_token_file = \"\(token)\"\n[delivery]\nwait_seconds = 1\nretry_base_seconds = 1\n")
        let disc = try Self.sampleDisc(dir, ct: 3, mr: 1)
        let state = dir.path("state")
        let denied = try IngestFixtures.agent(["echo", orthanc.dicomwebURL])
        XCTAssertEqual(denied.status, 1, denied.stderrText)
        XCTAssertTrue(denied.stderrText.contains("refused our credentials"), denied.stderrText)
        let noToken = try config(dir, "[delivery]\nwait_seconds = 1\nretry_base_seconds = 1\n")
        let pending = try IngestFixtures.agent(["ingest", disc, "--destination", orthanc.dicomwebURL, "--state-dir", state, "--config", noToken])
        XCTAssertEqual(pending.status, 6, pending.stderrText)
        XCTAssertTrue(try orthanc.sopInstanceUIDs().isEmpty)

        XCTAssertEqual(try IngestFixtures.agent(["echo", orthanc.dicomwebURL, "--config", withToken]).status, 0)
        let retry = try IngestFixtures.agent(["spool", "retry", "--state-dir", state, "--config", withToken])
        XCTAssertEqual(retry.status, 0, retry.stdoutText + retry.stderrText)
        XCTAssertEqual(try orthanc.sopInstanceUIDs().count, 4)
        XCTAssertFalse((retry.stdoutText + retry.stderrText).contains("t0ken"), "the token is never printed")
    }

    func testStorescpThatRejectsAContextGetsConvertedOrUnsupportedFindings() throws {
        let dir = try TestSupport.TemporaryDirectory("storescp-contexts")
        // A PACS that takes CT only, in implicit VR little endian only.
        let profile = dir.path("storescp.cfg")
        try Data("""
            [[TransferSyntaxes]]
            [Implicit]
            TransferSyntax1 = LittleEndianImplicit
            [[PresentationContexts]]
            [CTOnly]
            PresentationContext1 = VerificationSOPClass\\Implicit
            PresentationContext2 = CTImageStorage\\Implicit
            [[Profiles]]
            [CTOnly]
            PresentationContexts = CTOnly

            """.utf8).write(to: URL(fileURLWithPath: profile))
        let scp = try StoreSCPPeer(arguments: ["-xf", profile, "CTOnly"])
        let files = try TestSupport.pydicomTestFiles()
        let source = dir.url.appendingPathComponent("media")
        try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
        for name in ["CT_small.dcm", "MR_small.dcm", "693_J2KI.dcm"] {
            try FileManager.default.copyItem(at: files.appendingPathComponent(name), to: source.appendingPathComponent(name))
        }
        let reportPath = dir.path("report.json")
        let run = try IngestFixtures.agent(["ingest", source.path, "--destination", "dicom://\(scp.aeTitle)@127.0.0.1:\(scp.port)",
                                            "--state-dir", dir.path("state"), "--report", reportPath])
        XCTAssertEqual(run.status, 3, "refused instances make the session exit 3: \(run.stderrText)")
        let report = try IngestFixtures.report(reportPath)
        let byName = Dictionary(uniqueKeysWithValues: Self.files(report).map { (URL(fileURLWithPath: $0["path"] as! String).lastPathComponent, $0) })
        XCTAssertEqual(byName["CT_small.dcm"]?["delivery"] as? String, "stored", "explicit LE converted to implicit LE")
        func codes(_ name: String) -> [String] { (byName[name]?["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String } }
        XCTAssertEqual(byName["MR_small.dcm"]?["delivery"] as? String, "failed")
        XCTAssertTrue(codes("MR_small.dcm").contains("pacs.unsupported-sop-class"), "\(codes("MR_small.dcm"))")
        XCTAssertEqual(byName["693_J2KI.dcm"]?["delivery"] as? String, "failed")
        XCTAssertTrue(codes("693_J2KI.dcm").contains("pacs.unsupported-transfer-syntax"), "\(codes("693_J2KI.dcm"))")

        // What arrived is implicit VR little endian with the original pixels, checked by pydicom.
        let received = try XCTUnwrap(scp.received.first)
        XCTAssertEqual(scp.received.count, 1)
        let check = try TestSupport.python("""
            import sys, pydicom
            a = pydicom.dcmread(sys.argv[1]); b = pydicom.dcmread(sys.argv[2])
            print(a.file_meta.TransferSyntaxUID, a.PixelData == b.PixelData, a.SOPInstanceUID == b.SOPInstanceUID)
            """, [received.path, files.appendingPathComponent("CT_small.dcm").path])
        XCTAssertEqual(check.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), "1.2.840.10008.1.2 True True")
    }

    func testFailureStatusesKeepInstancesSpooledUntilThePACSRecovers() throws {
        let dir = try TestSupport.TemporaryDirectory("storescp-failing")
        let disc = try Self.sampleDisc(dir, ct: 4, mr: 2)
        let scp = try StoreSCPPeer()
        // storescp cannot write what it receives: it answers 0xA700 (refused, out of resources).
        let incoming = scp.directory.url.appendingPathComponent("in")
        try FileManager.default.removeItem(at: incoming)
        try Data().write(to: incoming)
        let configuration = try config(dir, "[delivery]\nwait_seconds = 1\nretry_base_seconds = 1\n")
        let state = dir.path("state")
        let reportPath = dir.path("report.json")
        let destination = "dicom://\(scp.aeTitle)@127.0.0.1:\(scp.port)"
        let run = try IngestFixtures.agent(["ingest", disc, "--destination", destination, "--state-dir", state,
                                            "--config", configuration, "--report", reportPath])
        XCTAssertEqual(run.status, 6, "delivery pending: \(run.stderrText)")
        let report = try IngestFixtures.report(reportPath)
        XCTAssertTrue(Self.files(report).filter { $0["kind"] as? String == "dicom" }.allSatisfy { $0["delivery"] as? String == "spooled" })
        XCTAssertTrue(Self.codes(report).contains("delivery.pending"))
        let list = try IngestFixtures.agent(["spool", "list", "--state-dir", state])
        XCTAssertTrue(list.stdoutText.contains("6 pending"), list.stdoutText)
        XCTAssertTrue(list.stdoutText.contains("0xA700"), list.stdoutText)

        try FileManager.default.removeItem(at: incoming)
        try FileManager.default.createDirectory(at: incoming, withIntermediateDirectories: true)
        let retry = try IngestFixtures.agent(["spool", "retry", "--state-dir", state, "--config", configuration])
        XCTAssertEqual(retry.status, 0, retry.stdoutText + retry.stderrText)
        XCTAssertEqual(scp.received.count, 6)
    }

    func testDICOMTLSVerifiesTheCertificateAndItsName() throws {
        let dir = try TestSupport.TemporaryDirectory("tls")
        let ca = try TestCA(dir)
        let server = try ca.issue("pacs", subjectAltName: "IP:127.0.0.1,DNS:localhost")
        let misnamed = try ca.issue("other", subjectAltName: "DNS:pacs.invalid")
        let client = try ca.issue("kiosk", subjectAltName: "DNS:kiosk.invalid")
        // storescp requires and verifies our client certificate (-rc, +cf CA).
        let scp = try StoreSCPPeer(arguments: ["+xa", "+tls", server.key, server.certificate, "-rc", "+cf", ca.certificate])
        let trusted = try config(dir, """
            [tls]
            ca_file = "\(ca.certificate)"
            certificate_file = "\(client.certificate)"
            private_key_file = "\(client.key)"

            """)
        for host in ["127.0.0.1", "localhost"] {
            let echo = try IngestFixtures.agent(["echo", "dicoms://\(scp.aeTitle)@\(host):\(scp.port)", "--config", trusted])
            XCTAssertEqual(echo.status, 0, "\(host): \(echo.stderrText)")
        }
        let untrusted = try IngestFixtures.agent(["echo", "dicoms://\(scp.aeTitle)@127.0.0.1:\(scp.port)"])
        XCTAssertEqual(untrusted.status, 1)
        XCTAssertTrue(untrusted.stderrText.contains("not signed by a CA in [tls] ca_file (unknown CA)"), untrusted.stderrText)

        let disc = try Self.sampleDisc(dir, ct: 3, mr: 1)
        let run = try IngestFixtures.agent(["ingest", disc, "--destination", "dicoms://\(scp.aeTitle)@127.0.0.1:\(scp.port)",
                                            "--state-dir", dir.path("state"), "--config", trusted])
        XCTAssertEqual(run.status, 0, run.stderrText)
        XCTAssertEqual(scp.received.count, 4)

        let other = try StoreSCPPeer(arguments: ["+xa", "+tls", misnamed.key, misnamed.certificate, "-ic"])
        let wrongName = try IngestFixtures.agent(["echo", "dicoms://\(other.aeTitle)@127.0.0.1:\(other.port)", "--config", trusted])
        XCTAssertEqual(wrongName.status, 1)
        XCTAssertTrue(wrongName.stderrText.contains("does not name this host"), wrongName.stderrText)
        let relaxed = try config(dir, "[tls]\nca_file = \"\(ca.certificate)\"\nverify_hostname = false\n")
        XCTAssertEqual(try IngestFixtures.agent(["echo", "dicoms://\(other.aeTitle)@127.0.0.1:\(other.port)", "--config", relaxed]).status, 0)
    }
}

/// A failed connection tells the user why, in words, with real peers: openssl s_server with a weak
/// cipher suite, an old protocol version, an expired certificate, one from an unknown CA; a closed
/// port; a peer that resets the connection. The words reach `echo`, `ingest`'s summary and `spool list`.
extension DestinationTests {
    /// `openssl s_server` on a port the kernel picked (`-accept 127.0.0.1:0`), stopped when released.
    final class OpenSSLServer {
        let port: Int
        private let process: Process

        init(_ arguments: [String]) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: try TestSupport.tool("openssl"))
            process.arguments = ["s_server", "-accept", "127.0.0.1:0"] + arguments
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            process.standardInput = Pipe()
            try process.run()
            // It prints "ACCEPT 127.0.0.1:PORT" once it listens (complete lines only: a port may arrive in two reads).
            var text = "", port: Int?
            while port == nil {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
                port = text.components(separatedBy: "\n").dropLast().first { $0.hasPrefix("ACCEPT") }
                    .flatMap { Int($0.split(separator: ":").last ?? "") }
            }
            guard let port else { throw XCTSkip("openssl s_server did not start: \(text)") }
            self.port = port
        }

        deinit { if process.isRunning { process.terminate() } }
    }

    private func echo(_ url: String, config: String? = nil) throws -> TestSupport.ToolResult {
        try IngestFixtures.agent(["echo", url] + (config.map { ["--config", $0] } ?? []))
    }

    /// BCP 195: a peer that offers only a static-RSA CBC suite is refused in the handshake, and
    /// the user reads that no cipher suite was in common (not "I/O on closed channel").
    func testDICOMTLSRefusesCipherSuitesBCP195DoesNotRecommend() throws {
        let dir = try TestSupport.TemporaryDirectory("tls-ciphers")
        let ca = try TestCA(dir)
        let server = try ca.issue("weak", subjectAltName: "IP:127.0.0.1")
        let peer = try OpenSSLServer(["-cert", server.certificate, "-key", server.key, "-cipher", "AES128-SHA", "-tls1_2"])
        let config = try self.config(dir, "[tls]\nca_file = \"\(ca.certificate)\"\n")
        let echo = try echo("dicoms://PACS@127.0.0.1:\(peer.port)", config: config)
        XCTAssertEqual(echo.status, 1)
        XCTAssertTrue(echo.stderrText.contains("TLS handshake failed: no cipher suite in common with 127.0.0.1:\(peer.port)"), echo.stderrText)
        XCTAssertFalse(echo.stderrText.contains("closed channel"), echo.stderrText)
    }

    func testDICOMTLSWithoutACommonProtocolVersionSaysSo() throws {
        let dir = try TestSupport.TemporaryDirectory("tls-version")
        let ca = try TestCA(dir)
        let server = try ca.issue("old", subjectAltName: "IP:127.0.0.1")
        let peer = try OpenSSLServer(["-cert", server.certificate, "-key", server.key, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
        let config = try self.config(dir, "[tls]\nca_file = \"\(ca.certificate)\"\n")
        let echo = try echo("dicoms://PACS@127.0.0.1:\(peer.port)", config: config)
        XCTAssertEqual(echo.status, 1)
        XCTAssertTrue(echo.stderrText.contains("no TLS protocol version in common"), echo.stderrText)
    }

    /// An expired certificate and one from a CA the kiosk does not trust are told apart, for DICOM
    /// TLS; STOW-RS over https says the certificate is not trusted.
    func testAnExpiredOrUntrustedCertificateIsExplained() throws {
        let dir = try TestSupport.TemporaryDirectory("tls-certificates")
        let ca = try TestCA(dir)
        let expired = try ca.issue("expired", subjectAltName: "IP:127.0.0.1", days: -1)
        let valid = try ca.issue("valid", subjectAltName: "IP:127.0.0.1")
        let trusting = try config(dir, "[tls]\nca_file = \"\(ca.certificate)\"\n")
        let old = try OpenSSLServer(["-cert", expired.certificate, "-key", expired.key])
        let expiredEcho = try echo("dicoms://PACS@127.0.0.1:\(old.port)", config: trusting)
        XCTAssertEqual(expiredEcho.status, 1)
        XCTAssertTrue(expiredEcho.stderrText.contains("the certificate of 127.0.0.1:\(old.port) expired on "), expiredEcho.stderrText)

        let unknown = try OpenSSLServer(["-cert", valid.certificate, "-key", valid.key])
        let unknownEcho = try echo("dicoms://PACS@127.0.0.1:\(unknown.port)")
        XCTAssertEqual(unknownEcho.status, 1)
        XCTAssertTrue(unknownEcho.stderrText.contains("not signed by a CA in [tls] ca_file (unknown CA)"), unknownEcho.stderrText)

        let web = try OpenSSLServer(["-cert", valid.certificate, "-key", valid.key, "-www"])
        let stow = try echo("dicomweb+https://127.0.0.1:\(web.port)/dicom-web")
        XCTAssertEqual(stow.status, 1)
        XCTAssertTrue(stow.stderrText.contains("the certificate of 127.0.0.1:\(web.port) is not trusted"), stow.stderrText)
    }

    /// Nothing listens: `echo` (DIMSE and STOW-RS) says the connection was refused; `ingest` keeps
    /// the study in the spool and its summary says why it waits, as `spool list` does. A peer that
    /// resets the connection is named too.
    func testARefusedOrResetConnectionIsExplainedInEchoIngestAndSpool() throws {
        let dir = try TestSupport.TemporaryDirectory("refused")
        let closed = TestSupport.freePort()
        let dimse = try echo("dicom://PACS@127.0.0.1:\(closed)")
        XCTAssertEqual(dimse.status, 1)
        XCTAssertTrue(dimse.stderrText.contains("connection refused: nothing accepts connections at 127.0.0.1:\(closed)"), dimse.stderrText)
        let stow = try echo("dicomweb+http://127.0.0.1:\(closed)/dicom-web")
        XCTAssertEqual(stow.status, 1)
        XCTAssertTrue(stow.stderrText.contains("connection refused"), stow.stderrText)

        let disc = try Self.sampleDisc(dir, ct: 2, mr: 1)
        let config = try self.config(dir, "[delivery]\nwait_seconds = 1\nretry_base_seconds = 1\n")
        let state = dir.path("state")
        let run = try IngestFixtures.agent(["ingest", disc, "--destination", "dicom://PACS@127.0.0.1:\(closed)", "--state-dir", state,
                                            "--config", config])
        XCTAssertEqual(run.status, 6, run.stderrText)
        XCTAssertTrue(run.stderrText.contains("waiting because:") && run.stderrText.contains("connection refused"), run.stderrText)
        let list = try IngestFixtures.agent(["spool", "list", "--state-dir", state])
        XCTAssertTrue(list.stdoutText.contains("connection refused: nothing accepts connections"), list.stdoutText)

        // A listener that answers every connection with a reset (SO_LINGER 0).
        let resetter = Process()
        resetter.executableURL = URL(fileURLWithPath: try TestSupport.tool("python3"))
        resetter.arguments = ["-c", """
            import socket, struct, sys
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
            print(s.getsockname()[1], flush=True)
            while True:
                c, _ = s.accept()
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.recv(1)
                c.close()
            """]
        let output = Pipe()
        resetter.standardOutput = output
        try resetter.run()
        defer { resetter.terminate() }
        let port = try XCTUnwrap(Int(String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        let reset = try echo("dicom://PACS@127.0.0.1:\(port)")
        XCTAssertEqual(reset.status, 1)
        XCTAssertTrue(reset.stderrText.contains("the connection was reset by 127.0.0.1:\(port)")
                      || reset.stderrText.contains("the connection was closed by 127.0.0.1:\(port)"), reset.stderrText)
    }
}

/// A certificate authority made with openssl for one test, and the certificates it signs.
struct TestCA {
    let directory: TestSupport.TemporaryDirectory
    let certificate: String
    private let key: String

    init(_ directory: TestSupport.TemporaryDirectory) throws {
        self.directory = directory
        certificate = directory.path("ca.pem")
        key = directory.path("ca.key")
        try TestSupport.run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                                        "-days", "2", "-subj", "/CN=kiosk-agent test CA"])
    }

    /// `days`: how long it is valid from now (-1: it expired a day ago).
    func issue(_ name: String, subjectAltName: String, days: Int = 2) throws -> (certificate: String, key: String) {
        let key = directory.path("\(name).key"), request = directory.path("\(name).csr"), certificate = directory.path("\(name).pem")
        let extensions = directory.path("\(name).ext")
        try Data("subjectAltName=\(subjectAltName)\n".utf8).write(to: URL(fileURLWithPath: extensions))
        try TestSupport.run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=\(name)"])
        try TestSupport.run("openssl", ["x509", "-req", "-in", request, "-CA", self.certificate, "-CAkey", self.key, "-CAcreateserial",
                                        "-out", certificate, "-days", String(days), "-extfile", extensions])
        return (certificate, key)
    }
}
