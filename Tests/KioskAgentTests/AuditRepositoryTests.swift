import AuditTrail
import Foundation
import TestSupport
import XCTest

/// IHE ATNA against a real audit repository: rsyslog on loopback over RFC 5425 TLS and RFC 5426
/// UDP. Every message it receives is checked against RFC 5424 and the PS3.15 Annex A rules.
final class AuditRepositoryTests: XCTestCase {
    /// A disc for a whole session: the desk's patient (CT, reconciled to the hospital's ID), a second
    /// patient (MR, imported by override), an infected CT and a CT whose preamble is a program.
    private func sessionTree(_ dir: TestSupport.TemporaryDirectory) throws -> IngestFixtures.Tree {
        let tree = try IngestFixtures.makeTree(in: dir, extraDICOM: ["CT_small.dcm", "MR_small.dcm"], withDICOMDIR: false)
        try TestSupport.python("""
            import sys, pydicom
            ds = pydicom.dcmread(sys.argv[1])
            block = ds.private_block(0x0029, "ACME 1.0", create=True)
            block.add_new(0x01, "OB", (sys.argv[3] + sys.argv[4]).encode())
            ds.SOPInstanceUID = ds.SOPInstanceUID + ".7"
            ds.save_as(sys.argv[2] + "/INFECTED", enforce_file_format=True)
            ds = pydicom.dcmread(sys.argv[1])
            ds.SOPInstanceUID = ds.SOPInstanceUID + ".8"
            ds.preamble = bytes(IngestFixturesPE)
            ds.save_as(sys.argv[2] + "/POLYGLOT", enforce_file_format=True)
            """.replacingOccurrences(of: "IngestFixturesPE", with: "[" + IngestFixtures.inertPE().prefix(128).map(String.init).joined(separator: ",") + "]"),
            [try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm").path, tree.root.appendingPathComponent("DICOM").path,
             "X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"])
        return tree
    }

    private func checkAll(_ messages: [String], file: StaticString = #filePath, line: UInt = #line) -> [String] {
        messages.compactMap { message in
            let (eventID, problems) = ATNARules.check(message)
            XCTAssertEqual(problems, [], "\(message.prefix(600))", file: file, line: line)
            return eventID
        }
    }

    func testAWholeSessionReachesTheRepositoryAsValidATNAMessagesOverTLS() throws {
        let dir = try TestSupport.TemporaryDirectory("atna-tls")
        let ca = try TestCA(dir)
        let server = try ca.issue("repository", subjectAltName: "IP:127.0.0.1")
        let repository = try RsyslogPeer(certificate: server.certificate, key: server.key, ca: ca.certificate)
        let pacs = try StoreSCPPeer()
        let tree = try sessionTree(dir)
        let config = dir.path("kiosk.toml")
        try """
            [atna]
            repository = "syslog+tls://127.0.0.1:\(repository.tlsPort)"
            ca_file = "\(ca.certificate)"
            enterprise_site_id = "Clinic North"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let state = dir.path("state")
        let result = try IngestFixtures.agent(["ingest", tree.root.path, "--state-dir", state, "--config", config,
                                               "--destination", "dicom://\(pacs.aeTitle)@127.0.0.1:\(pacs.port)", "--reconcile",
                                               "--patient-id", "LOCAL123", "--patient-name", "CompressedSamples^CT1",
                                               "--override-identity", "patient brought her husband's disc as well",
                                               "--report", dir.path("report.json")])
        XCTAssertEqual(result.status, 0, result.stderrText)
        XCTAssertFalse(result.stderrText.contains("ATNA"), "the repository answered: \(result.stderrText)")

        // The service's own records, as KioskService and the screen write them.
        try AuditLog(directory: URL(fileURLWithPath: state).appendingPathComponent("audit")).append([
            AuditEvent(.serviceStart, actor: "service", details: ["destination": "archive:"]),
            AuditEvent(.operatorSignIn, actor: "alice"), AuditEvent(.operatorSignInFailed, actor: "mallory"),
            AuditEvent(.operatorSignOut, actor: "alice", details: ["reason": "idle timeout"]),
            AuditEvent(.serviceStop, actor: "service"),
        ], checkpoint: true)
        let forward = try IngestFixtures.agent(["audit", "forward", "--state-dir", state, "--config", config])
        XCTAssertEqual(forward.status, 0, forward.stderrText)

        let report = try IngestFixtures.report(dir.path("report.json"))
        let delivered = (report["totals"] as? [String: Any])?["delivered"] as? Int ?? 0
        XCTAssertEqual(delivered, 4)
        let expected = ["110107", "110102", "110104", "110113", "110110", "110100", "110114"]
        XCTAssertTrue(repository.wait(for: 12, input: "tls"), "received \(repository.received.count)")
        Thread.sleep(forTimeInterval: 0.5)
        let messages = repository.received.filter { $0.input == "tls" }.map(\.message)
        let ids = checkAll(messages)
        for id in expected { XCTAssertTrue(ids.contains(id), "no \(id) among \(ids)") }
        XCTAssertEqual(ids.filter { $0 == "110107" }.count, 2, "one Data Import per study (CT by match, MR by override)")
        XCTAssertEqual(ids.filter { $0 == "110113" }.count, 2, "malware and the polyglot")
        XCTAssertEqual(ids.filter { $0 == "110100" }.count, 2, "start and stop")
        XCTAssertEqual(ids.filter { $0 == "110114" }.count, 3, "sign-in, failed sign-in, sign-out")
        let transferred = messages.filter { $0.contains("csd-code=\"110104\"") }
        let instances = transferred.flatMap { $0.matches(of: /NumberOfInstances="(\d+)"/).map { Int($0.1)! } }.reduce(0, +)
        XCTAssertEqual(instances, delivered, "Instances Transferred covers every stored instance")
        XCTAssertTrue(messages.contains { $0.contains("csd-code=\"110110\"") && $0.contains("ParticipantObjectID=\"LOCAL123\"") },
                      "Patient Record names the hospital's ID after reconciliation")
        XCTAssertTrue(messages.contains { $0.contains("csd-code=\"110107\"") && $0.contains("EventOutcomeIndicator=\"4\"") && $0.contains("override") },
                      "the override import is marked")
        XCTAssertTrue(messages.contains { $0.contains("MALWARE") && $0.contains("/DICOM/INFECTED") })
        XCTAssertTrue(messages.contains { $0.contains("POLYGLOT") && $0.contains("/DICOM/POLYGLOT") })
        XCTAssertTrue(messages.allSatisfy { $0.contains("AuditEnterpriseSiteID=\"Clinic North\"") })

        // Nothing is sent twice; the trail still verifies.
        XCTAssertEqual(try IngestFixtures.agent(["audit", "forward", "--state-dir", state, "--config", config]).stdoutText.hasPrefix("0 record(s)"), true)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(repository.received.filter { $0.input == "tls" }.count, messages.count)
        XCTAssertEqual(try IngestFixtures.agent(["audit", "verify", "--state-dir", state]).status, 0)
    }

    func testRecordsWaitWhileTheRepositoryIsUnreachableAndGoOnceItAnswers() throws {
        let dir = try TestSupport.TemporaryDirectory("atna-queue")
        let ca = try TestCA(dir)
        let server = try ca.issue("repository", subjectAltName: "IP:127.0.0.1")
        let port = TestSupport.freePort()
        let tree = try IngestFixtures.makeTree(in: dir, extraDICOM: ["CT_small.dcm"], withDICOMDIR: false)
        let config = dir.path("kiosk.toml")
        try "[atna]\nrepository = \"syslog+tls://127.0.0.1:\(port)\"\nca_file = \"\(ca.certificate)\"\ntimeout_seconds = 3\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let state = dir.path("state")
        let first = try IngestFixtures.agent(["ingest", tree.root.path, "--state-dir", state, "--config", config])
        XCTAssertEqual(first.status, 0, "an unreachable repository never fails the import: \(first.stderrText)")
        XCTAssertTrue(first.stderrText.contains("stay queued"), first.stderrText)
        let down = try IngestFixtures.agent(["audit", "forward", "--state-dir", state, "--config", config])
        XCTAssertEqual(down.status, 6, down.stderrText)

        let repository = try RsyslogPeer(certificate: server.certificate, key: server.key, ca: ca.certificate, tlsPort: port)
        let up = try IngestFixtures.agent(["audit", "forward", "--state-dir", state, "--config", config])
        XCTAssertEqual(up.status, 0, up.stderrText)
        XCTAssertTrue(repository.wait(for: 1, input: "tls"))
        Thread.sleep(forTimeInterval: 0.5)
        let ids = checkAll(repository.received.map(\.message))
        XCTAssertEqual(ids, ["110107"], "the queued Data Import, once")

        // The same trail to a UDP repository (RFC 5426), from the start of the trail.
        let udpState = dir.path("state-udp")
        try "[atna]\nrepository = \"syslog+udp://127.0.0.1:\(repository.udpPort)\"\n".write(toFile: dir.path("udp.toml"), atomically: true, encoding: .utf8)
        let udp = try IngestFixtures.agent(["ingest", tree.root.path, "--state-dir", udpState, "--config", dir.path("udp.toml")])
        XCTAssertEqual(udp.status, 0, udp.stderrText)
        XCTAssertTrue(repository.wait(for: 1, input: "udp"))
        XCTAssertEqual(checkAll(repository.received.filter { $0.input == "udp" }.map(\.message)), ["110107"])
    }
}
