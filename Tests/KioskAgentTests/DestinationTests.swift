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
        XCTAssertTrue(untrusted.stderrText.contains("not signed by a trusted CA"), untrusted.stderrText)

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

extension DestinationTests {
    /// BCP 195: a peer that offers only a static-RSA CBC suite is refused in the handshake.
    func testDICOMTLSRefusesCipherSuitesBCP195DoesNotRecommend() throws {
        let dir = try TestSupport.TemporaryDirectory("tls-ciphers")
        let ca = try TestCA(dir)
        let server = try ca.issue("weak", subjectAltName: "IP:127.0.0.1")
        let port = Int.random(in: 41_000...49_000)
        let peer = Process()
        peer.executableURL = URL(fileURLWithPath: try TestSupport.tool("openssl"))
        peer.arguments = ["s_server", "-accept", String(port), "-cert", server.certificate, "-key", server.key,
                          "-cipher", "AES128-SHA", "-tls1_2", "-naccept", "1", "-quiet"]
        peer.standardOutput = FileHandle.nullDevice
        peer.standardError = FileHandle.nullDevice
        try peer.run()
        defer { if peer.isRunning { peer.terminate() } }
        // Wait for the listener without connecting to it (it accepts one connection only).
        let listening = String(format: ":%04X 00000000:0000 0A", port)
        for _ in 0..<100 where !((try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? "").contains(listening) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        try "[tls]\nca_file = \"\(ca.certificate)\"\n".write(toFile: dir.path("kiosk.toml"), atomically: true, encoding: .utf8)
        let echo = try IngestFixtures.agent(["echo", "dicoms://PACS@127.0.0.1:\(port)", "--config", dir.path("kiosk.toml")])
        XCTAssertEqual(echo.status, 1)
        XCTAssertTrue(echo.stderrText.contains("handshake"), echo.stderrText)
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

    func issue(_ name: String, subjectAltName: String) throws -> (certificate: String, key: String) {
        let key = directory.path("\(name).key"), request = directory.path("\(name).csr"), certificate = directory.path("\(name).pem")
        let extensions = directory.path("\(name).ext")
        try Data("subjectAltName=\(subjectAltName)\n".utf8).write(to: URL(fileURLWithPath: extensions))
        try TestSupport.run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=\(name)"])
        try TestSupport.run("openssl", ["x509", "-req", "-in", request, "-CA", self.certificate, "-CAkey", self.key, "-CAcreateserial",
                                        "-out", certificate, "-days", "2", "-extfile", extensions])
        return (certificate, key)
    }
}
