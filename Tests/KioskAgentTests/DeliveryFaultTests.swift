import Foundation
import TestSupport
import XCTest

/// Faults during delivery, with real peers: the PACS killed mid-study, the agent killed mid-upload,
/// a state directory with no room. Every test ends with each instance stored exactly once.
final class DeliveryFaultTests: XCTestCase {
    private func config(_ dir: TestSupport.TemporaryDirectory, _ text: String) throws -> String {
        let path = dir.path("kiosk.toml")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The SOP Instance UIDs a report lists as DICOM that was not rejected (what must reach the PACS).
    private func deliverable(_ report: [String: Any]) -> [String] {
        Set(DestinationTests.files(report).filter { $0["kind"] as? String == "dicom" && $0["verdict"] as? String != "rejected" }
            .compactMap { $0["sopInstanceUID"] as? String }).sorted()
    }

    private func count(_ orthanc: OrthancPeer) -> Int {
        ((try? orthanc.get("/statistics")) as? [String: Any])?["CountInstances"] as? Int ?? 0
    }


    func testPACSKilledMidStudyThenRestartedEndsWithEveryInstanceOnce() throws {
        let dir = try TestSupport.TemporaryDirectory("fault-pacs")
        let disc = try DestinationTests.sampleDisc(dir, ct: 150, mr: 10)
        let orthanc = try OrthancPeer()
        // One association, so the study takes long enough to be interrupted.
        let configuration = try config(dir, "[delivery]\nassociations = 1\nwait_seconds = 2\nretry_base_seconds = 1\n")
        let state = dir.path("state"), reportPath = dir.path("report.json")
        let agent = try IngestFixtures.startAgent(["ingest", disc, "--destination", orthanc.dicomURL, "--state-dir", state,
                                                   "--config", configuration, "--report", reportPath], log: dir.path("agent.log"))
        XCTAssertTrue(TestSupport.poll(60) { count(orthanc) >= 15 }, "Orthanc received instances")
        orthanc.kill()
        agent.waitUntilExit()
        let log = (try? String(contentsOfFile: dir.path("agent.log"), encoding: .utf8)) ?? ""
        XCTAssertEqual(agent.terminationStatus, 6, "pending after the PACS died: \(log)")
        let report = try IngestFixtures.report(reportPath)
        let expected = deliverable(report)
        XCTAssertEqual(expected.count, 160)
        XCTAssertTrue(DestinationTests.files(report).contains { $0["delivery"] as? String == "spooled" })

        try orthanc.start()     // same storage: what it acknowledged before it died is still there
        let retry = try IngestFixtures.agent(["spool", "retry", "--state-dir", state, "--config", configuration])
        XCTAssertEqual(retry.status, 0, retry.stdoutText + retry.stderrText)
        XCTAssertEqual(try orthanc.sopInstanceUIDs(), expected, "every instance exactly once")
        XCTAssertEqual(count(orthanc), expected.count)
    }

    func testAgentKilledMidUploadLosesNothingAndDuplicatesNothing() throws {
        let dir = try TestSupport.TemporaryDirectory("fault-agent")
        let disc = try DestinationTests.sampleDisc(dir, ct: 150, mr: 10)
        let orthanc = try OrthancPeer()
        let configuration = try config(dir, "[delivery]\nassociations = 1\nwait_seconds = 5\nretry_base_seconds = 1\n")
        let state = dir.path("state")
        let agent = try IngestFixtures.startAgent(["ingest", disc, "--destination", orthanc.dicomURL, "--state-dir", state,
                                                   "--config", configuration], log: dir.path("agent.log"))
        XCTAssertTrue(TestSupport.poll(60) { count(orthanc) >= 15 }, "Orthanc received instances")
        kill(agent.processIdentifier, SIGKILL)
        agent.waitUntilExit()
        let before = count(orthanc)
        XCTAssertLessThan(before, 160, "killed before the end")

        // Restarted: what was spooled goes out; instances in flight at the kill are sent again (same UID).
        let list = try IngestFixtures.agent(["spool", "list", "--state-dir", state])
        XCTAssertFalse(list.stdoutText.contains("sending"), "in-flight instances went back to pending: \(list.stdoutText)")
        let retry = try IngestFixtures.agent(["spool", "retry", "--state-dir", state, "--config", configuration])
        XCTAssertEqual(retry.status, 0, retry.stdoutText + retry.stderrText)
        // The operator inserts the disc again: what the PACS acknowledged is not sent twice.
        let reportPath = dir.path("report.json")
        let again = try IngestFixtures.agent(["ingest", disc, "--destination", orthanc.dicomURL, "--state-dir", state,
                                              "--config", configuration, "--report", reportPath])
        XCTAssertEqual(again.status, 0, again.stderrText)
        let report = try IngestFixtures.report(reportPath)
        let expected = deliverable(report)
        XCTAssertEqual(expected.count, 160)
        XCTAssertTrue(DestinationTests.codes(report).contains("delivery.already-delivered"))
        XCTAssertEqual(try orthanc.sopInstanceUIDs(), expected, "every instance exactly once")
        XCTAssertEqual(count(orthanc), 160)
    }

    func testRefusedAssociationLeavesTheStudySpooledUntilThePACSAccepts() throws {
        let dir = try TestSupport.TemporaryDirectory("fault-refused")
        let disc = try DestinationTests.sampleDisc(dir, ct: 3, mr: 1)
        let refusing = try StoreSCPPeer(arguments: ["--refuse"])
        let configuration = try config(dir, "[delivery]\nwait_seconds = 1\nretry_base_seconds = 1\n")
        let state = dir.path("state"), reportPath = dir.path("report.json")
        let destination = "dicom://\(refusing.aeTitle)@127.0.0.1:\(refusing.port)"
        let run = try IngestFixtures.agent(["ingest", disc, "--destination", destination, "--state-dir", state,
                                            "--config", configuration, "--report", reportPath])
        XCTAssertEqual(run.status, 6, run.stderrText)
        let details = DestinationTests.files(try IngestFixtures.report(reportPath))
            .flatMap { ($0["findings"] as? [[String: Any]] ?? []).compactMap { $0["detail"] as? String } }
        XCTAssertTrue(details.contains { $0.contains("association permanently rejected") }, "\(details)")
        refusing.stop()
        let accepting = try StoreSCPPeer(port: refusing.port)
        let retry = try IngestFixtures.agent(["spool", "retry", "--state-dir", state, "--config", configuration])
        XCTAssertEqual(retry.status, 0, retry.stdoutText + retry.stderrText)
        XCTAssertEqual(accepting.received.count, 4)
    }

    func testFullStateDirectoryRefusesTheDiscAndKeepsTheSpool() throws {
        let dir = try TestSupport.TemporaryDirectory("fault-full")
        let state = dir.path("state")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let mount = try TestSupport.run("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", state], check: false)
        guard mount.status == 0 else {
            throw XCTSkip("cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN): \(mount.stderrText)")
        }
        defer { _ = try? TestSupport.run("umount", ["-l", state], check: false) }
        let small = try DestinationTests.sampleDisc(dir, ct: 2, mr: 1)
        let bigDirectory = try TestSupport.TemporaryDirectory("fault-full-big")
        let big = try DestinationTests.sampleDisc(bigDirectory, ct: 20, mr: 2)
        let configuration = try config(dir, "[delivery]\nwait_seconds = 0\nreserve_bytes = 1_048_576\n")
        // Nobody listens yet: the small disc waits in the spool.
        let port = TestSupport.freePort()
        let destination = "dicom://STORESCP@127.0.0.1:\(port)"
        let first = try IngestFixtures.agent(["ingest", small, "--destination", destination, "--state-dir", state, "--config", configuration])
        XCTAssertEqual(first.status, 6, first.stderrText)

        let reportPath = dir.path("report.json")
        let refused = try IngestFixtures.agent(["ingest", big, "--destination", destination, "--state-dir", state,
                                                "--config", configuration, "--report", reportPath])
        XCTAssertEqual(refused.status, 7, "no room: \(refused.stderrText)")
        let report = try IngestFixtures.report(reportPath)
        let media = (report["media"] as? [String: Any])?["findings"] as? [[String: Any]] ?? []
        XCTAssertTrue(media.contains { $0["code"] as? String == "delivery.disk-full" }, "\(media)")
        let list = try IngestFixtures.agent(["spool", "list", "--state-dir", state])
        XCTAssertTrue(list.stdoutText.contains("3 pending"), "the first disc is untouched: \(list.stdoutText)")

        let scp = try StoreSCPPeer(arguments: ["+xa"], port: port)
        let retry = try IngestFixtures.agent(["spool", "retry", "--state-dir", state, "--config", configuration])
        XCTAssertEqual(retry.status, 0, retry.stdoutText + retry.stderrText)
        XCTAssertEqual(scp.received.count, 3)
    }
}
