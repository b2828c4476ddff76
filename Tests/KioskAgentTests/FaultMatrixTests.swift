import Crypto
import Delivery
import Foundation
import TestSupport
import XCTest

/// The fault matrix of issue 7, part 3, with real parts: a medium that shrinks while it is read, a
/// state directory that fills up mid-session (archive and spool), an engine that hangs or dies, and
/// the agent killed at random points twenty times. After each: nothing lost, nothing stored twice,
/// and the report says what happened. (The PACS killed and restarted mid-study, and the agent
/// killed mid-upload, are in DeliveryFaultTests; a disc pulled mid-session in KioskServiceTests.)
final class FaultMatrixTests: XCTestCase {

    private func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    private func dicom(_ report: [String: Any]) -> [[String: Any]] {
        DestinationTests.files(report).filter { $0["kind"] as? String == "dicom" }
    }

    /// Every archived instance once, its file present with the indexed hash, nothing half-written left.
    private func checkArchive(_ root: String, file: StaticString = #filePath, line: UInt = #line) throws -> Set<String> {
        let archive = try Archive(root: URL(fileURLWithPath: root))
        let instances = try archive.instances()
        XCTAssertEqual(Set(instances.map(\.sopInstanceUID)).count, instances.count, "one row per instance", file: file, line: line)
        for instance in instances {
            let path = URL(fileURLWithPath: root).appendingPathComponent(instance.studyInstanceUID)
                .appendingPathComponent(instance.seriesInstanceUID).appendingPathComponent(instance.sopInstanceUID + ".dcm")
            let bytes = try Data(contentsOf: path)
            XCTAssertEqual(SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined(), instance.sha256,
                           "\(instance.sopInstanceUID): the archived file is whole", file: file, line: line)
        }
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: root + "/.incoming")) ?? [], [], file: file, line: line)
        return Set(instances.map(\.sopInstanceUID))
    }

    /// A loop device whose backing file is cut short while the helper reads it (`losetup -c`): the
    /// files past the cut fail one by one with a media finding, the ones before are imported whole,
    /// and the full disc inserted again completes the study without storing anything twice.
    func testAMediumThatShrinksWhileReadFailsOnlyThePartThatIsGone() throws {
        guard getuid() == 0 else { throw XCTSkip("loop devices need root") }
        let dir = try TestSupport.TemporaryDirectory("fault-shrink")
        let disc = try DestinationTests.sampleDisc(dir, ct: 20, mr: 3, seed: 31)
        let image = dir.path("shrinking.iso")
        try FileManager.default.copyItem(atPath: disc, toPath: image)
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: image)[.size] as? Int)
        let device = try TestSupport.run("losetup", ["--find", "--show", "--read-only", image]).stdoutText
            .trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? TestSupport.run("losetup", ["-d", device], check: false) }
        let log = dir.path("agent.log"), state = dir.path("state")
        let agent = try IngestFixtures.startAgent(["ingest", device, "--state-dir", state, "--report", dir.path("cut.json")], log: log,
                                                  environment: ["KIOSK_AGENT_HELPER_FAULT": "pause:2@IM000010"])
        XCTAssertTrue(TestSupport.poll(30) { text(log).contains("fault pause") }, text(log))
        // The helper is mid-disc: cut the medium at 60 % and make the device see it.
        XCTAssertEqual(truncate(image, off_t(size * 6 / 10 / 2048 * 2048)), 0)
        try TestSupport.run("losetup", ["-c", device])
        XCTAssertTrue(TestSupport.poll(60) { !agent.isRunning }, text(log))
        XCTAssertEqual(agent.terminationStatus, 3, text(log))
        let report = try IngestFixtures.report(dir.path("cut.json"))
        let files = DestinationTests.files(report)
        let failed = files.filter { $0["verdict"] as? String == "rejected" }
        XCTAssertFalse(failed.isEmpty, "files past the cut fail")
        for file in failed {
            let codes = (file["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            XCTAssertTrue(codes.contains { $0.hasPrefix("media.") || $0.hasPrefix("structure.") }, "\(file)")
        }
        let stored = files.filter { $0["delivery"] as? String == "stored" }
        XCTAssertFalse(stored.isEmpty, "files before the cut are imported")
        XCTAssertEqual(try checkArchive(state + "/archive"), Set(stored.compactMap { $0["sopInstanceUID"] as? String }))

        // The whole disc again: the rest is imported, what was stored is recognised, nothing twice.
        let again = try IngestFixtures.agent(["ingest", disc, "--state-dir", state, "--report", dir.path("again.json")])
        XCTAssertEqual(again.status, 0, again.stderrText)
        let all = try checkArchive(state + "/archive")
        XCTAssertEqual(all.count, 23)
        XCTAssertEqual(files.count, DestinationTests.files(try IngestFixtures.report(dir.path("again.json"))).count,
                       "every file of the cut disc is accounted for in its report")
        XCTAssertTrue(DestinationTests.codes(try IngestFixtures.report(dir.path("again.json"))).contains("delivery.already-archived"))
    }

    /// The state directory fills up while a disc is read (another process takes the space): the
    /// archive and the spool each refuse the files that do not fit with delivery.disk-full (exit 7),
    /// keep everything committed before whole, and the same disc after space is freed completes it.
    func testTheStateDirectoryFillingUpMidSessionLosesNothing() throws {
        guard getuid() == 0 else { throw XCTSkip("mounting a small tmpfs needs root") }
        let dir = try TestSupport.TemporaryDirectory("fault-full")
        let disc = try DestinationTests.sampleDisc(dir, ct: 20, mr: 3, seed: 32)
        let scp = try StoreSCPPeer()
        for destination in ["archive:", "dicom://\(scp.aeTitle)@127.0.0.1:\(scp.port)"] {
            let mount = dir.path("small-\(destination.hasPrefix("dicom") ? "spool" : "archive")")
            try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
            try TestSupport.run("mount", ["-t", "tmpfs", "-o", "size=48m", "tmpfs", mount])
            defer { _ = try? TestSupport.run("umount", ["-l", mount], check: false) }
            let config = dir.path("full.toml")
            try "[delivery]\nreserve_bytes = 0\nwait_seconds = 5\nretry_base_seconds = 1\n".write(toFile: config, atomically: true, encoding: .utf8)
            let log = dir.path("full.log"), state = mount + "/state"
            let agent = try IngestFixtures.startAgent(["ingest", disc, "--destination", destination, "--state-dir", state, "--config", config,
                                                       "--report", dir.path("full.json")], log: log,
                                                      environment: ["KIOSK_AGENT_HELPER_FAULT": "pause:2@IM000012"])
            XCTAssertTrue(TestSupport.poll(30) { text(log).contains("fault pause") }, text(log))
            // Another writer takes every free byte while the helper is paused.
            _ = try? TestSupport.run("dd", ["if=/dev/zero", "of=\(mount)/filler", "bs=1M"], check: false)
            XCTAssertTrue(TestSupport.poll(60) { !agent.isRunning }, text(log))
            XCTAssertEqual(agent.terminationStatus, 7, "\(destination): \(text(log))")
            let report = try IngestFixtures.report(dir.path("full.json"))
            XCTAssertTrue(DestinationTests.codes(report).contains("delivery.disk-full"), "\(destination): \(DestinationTests.codes(report))")
            // Every DICOM file is accounted for: committed before the disk filled, or failed for want of room
            // (a batch that cannot be made durable is dropped whole, never half-committed).
            let files = dicom(report)
            XCTAssertEqual(files.count, 23)
            for file in files where file["delivery"] as? String != "stored" && file["delivery"] as? String != "spooled" {
                let codes = (file["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
                XCTAssertTrue(codes.contains("delivery.disk-full"), "\(destination): \(file)")
            }

            try FileManager.default.removeItem(atPath: mount + "/filler")
            let again = try IngestFixtures.agent(["ingest", disc, "--destination", destination, "--state-dir", state, "--config", config,
                                                  "--report", dir.path("again.json")])
            XCTAssertEqual(again.status, 0, "\(destination): \(again.stderrText)")
            let expected = Set(dicom(try IngestFixtures.report(dir.path("again.json"))).compactMap { $0["sopInstanceUID"] as? String })
            XCTAssertEqual(expected.count, 23)
            if destination == "archive:" {
                XCTAssertEqual(try checkArchive(state + "/archive"), expected)
            } else {
                // storescp names each file <modality>.<SOP Instance UID>.
                let received = Set(scp.received.compactMap { $0.lastPathComponent.split(separator: ".", maxSplits: 1).last.map(String.init) })
                XCTAssertEqual(received, expected, "the PACS has every instance")
                let list = try IngestFixtures.agent(["spool", "list", "--state-dir", state])
                XCTAssertFalse(list.stdoutText.contains("pending") || list.stdoutText.contains("failed"), list.stdoutText)
            }
        }
    }

    /// clamd stopped (SIGSTOP: it hangs) or killed mid-disc: every file it was asked about fails
    /// closed (rejected, quarantined, never delivered unscanned), and once clamd is back the same
    /// disc is imported whole.
    func testAnEngineThatHangsOrDiesFailsClosed() throws {
        let dir = try TestSupport.TemporaryDirectory("fault-engine")
        let disc = try DestinationTests.sampleDisc(dir, ct: 6, mr: 3, seed: 33)
        for fault in ["hang", "die"] {
            let clamd = try ClamdPeer()
            let config = dir.path("\(fault).toml")
            try "[engines]\nclamav = false\nclamd_socket = \"\(clamd.socket)\"\ntimeout_seconds = 2\n"
                .write(toFile: config, atomically: true, encoding: .utf8)
            kill(clamd.pid, fault == "hang" ? SIGSTOP : SIGKILL)
            let state = dir.path("state-\(fault)")
            let started = Date()
            let run = try IngestFixtures.agent(["ingest", disc, "--state-dir", state, "--config", config, "--report", dir.path("\(fault).json")])
            XCTAssertEqual(run.status, 3, "\(fault): \(run.stderrText)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 60, "\(fault): bounded by the engine timeout")
            let report = try IngestFixtures.report(dir.path("\(fault).json"))
            let files = dicom(report)
            XCTAssertEqual(files.count, 9)
            XCTAssertTrue(files.allSatisfy { $0["verdict"] as? String == "rejected" && $0["delivery"] as? String != "stored" }, "\(fault): \(files)")
            XCTAssertEqual(try checkArchive(state + "/archive"), [], "\(fault): nothing delivered unscanned")
            if fault == "hang" { kill(clamd.pid, SIGCONT) }
            let back = fault == "hang" ? clamd : try ClamdPeer()
            try "[engines]\nclamav = false\nclamd_socket = \"\(back.socket)\"\ntimeout_seconds = 10\n".write(toFile: config, atomically: true, encoding: .utf8)
            let again = try IngestFixtures.agent(["ingest", disc, "--state-dir", state, "--config", config, "--report", dir.path("again.json")])
            XCTAssertEqual(again.status, 0, "\(fault): \(again.stderrText)")
            XCTAssertEqual(try checkArchive(state + "/archive").count, 9)
        }
    }

    /// An ICAP gateway that stops answering mid-disc: the same, fail closed within the timeout.
    func testAnICAPGatewayThatHangsFailsClosed() throws {
        let dir = try TestSupport.TemporaryDirectory("fault-icap")
        let disc = try DestinationTests.sampleDisc(dir, ct: 4, mr: 2, seed: 35)
        let icap = try ICAPPeer()
        let config = dir.path("icap.toml")
        try "[engines]\nclamav = false\nicap = \"\(icap.url)\"\ntimeout_seconds = 2\n".write(toFile: config, atomically: true, encoding: .utf8)
        // c-icap serves from child processes: stop them all, as a hung gateway would be.
        func family(_ pid: Int32) -> [Int32] {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            let children = tasks.flatMap { task in
                ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "").split(separator: " ").compactMap { Int32($0) }
            }
            return [pid] + children.flatMap(family)
        }
        let gateway = family(icap.pid)
        XCTAssertGreaterThan(gateway.count, 1, "c-icap runs child processes")
        gateway.forEach { kill($0, SIGSTOP) }
        defer { gateway.forEach { kill($0, SIGCONT) } }
        let state = dir.path("state")
        let run = try IngestFixtures.agent(["ingest", disc, "--state-dir", state, "--config", config, "--report", dir.path("icap.json")])
        XCTAssertEqual(run.status, 3, run.stderrText)
        let files = dicom(try IngestFixtures.report(dir.path("icap.json")))
        XCTAssertEqual(files.count, 6)
        XCTAssertTrue(files.allSatisfy { $0["verdict"] as? String == "rejected" }, "\(files)")
        XCTAssertEqual(try checkArchive(state + "/archive"), [], "nothing delivered unscanned")
        gateway.forEach { kill($0, SIGCONT) }
        let again = try IngestFixtures.agent(["ingest", disc, "--state-dir", state, "--config", config, "--report", dir.path("again.json")])
        XCTAssertEqual(again.status, 0, again.stderrText)
        XCTAssertEqual(try checkArchive(state + "/archive").count, 6)
    }

    /// The agent killed with SIGKILL at a random point of its progress, twenty times over the same
    /// disc and state directory, then run to the end: every instance is in the archive exactly once,
    /// whole, with nothing half-written left behind, and the final report accounts for all of them.
    /// The kill points are defined by what the test sees happen (the media helper started, so many
    /// files staged or committed), not by wall-clock fractions, so a busy machine moves them in time only.
    func testTheAgentKilledAtRandomPointsTwentyTimesLosesAndDuplicatesNothing() throws {
        let dir = try TestSupport.TemporaryDirectory("fault-sigkill")
        let disc = try DestinationTests.sampleDisc(dir, ct: 30, mr: 5, seed: 34)
        let state = dir.path("state")
        let archive = URL(fileURLWithPath: state + "/archive")
        /// Instances committed so far (files in the archive's study folders; .incoming is not committed).
        func committed() -> Int {
            guard let walk = FileManager.default.enumerator(at: archive, includingPropertiesForKeys: nil) else { return 0 }
            var count = 0
            for case let url as URL in walk {
                if url.lastPathComponent == ".incoming" { walk.skipDescendants(); continue }
                if url.pathExtension == "dcm" { count += 1 }
            }
            return count
        }
        /// Rebuilt files written but not yet committed (the archive publishes them in batches).
        func staged() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: state + "/archive/.incoming").count) ?? 0 }
        var generator = SystemRandomNumberGenerator()
        var killedAt: [String] = []
        for round in 0..<20 {
            let base = committed()
            // Where to kill: once the helper runs and `target` files have been staged or committed
            // in this round (0: before any; a disc already archived is still rebuilt and checked),
            // or (36) as soon as the archive's commit has begun, or (37) once it has ended.
            let target = Int.random(in: 0...37, using: &generator)
            func due() -> Bool {
                switch target {
                case 36: committed() > base
                case 37: committed() >= 35
                default: staged() + committed() - base >= target
                }
            }
            let agent = try IngestFixtures.startAgent(["ingest", disc, "--state-dir", state, "--report", dir.path("round.json")],
                                                      log: dir.path("round-\(round).log"))
            var helpers: [Int32] = []
            let reached = TestSupport.poll(120) {
                guard agent.isRunning else { return false }
                let family = TestSupport.descendants(of: agent.processIdentifier)
                if !family.isEmpty { helpers = family }
                return !helpers.isEmpty && due()
            }
            if reached, agent.isRunning {
                kill(agent.processIdentifier, SIGKILL)
                killedAt.append("\(base)+\(target)")
            }
            agent.waitUntilExit()
            // The helper dies with the agent (PR_SET_PDEATHSIG): no reader is left behind.
            XCTAssertTrue(TestSupport.poll(10) { helpers.allSatisfy(TestSupport.hasEnded) }, "round \(round): helper \(helpers) outlived the agent")
            _ = try checkArchive(state + "/archive")
        }
        print("FaultMatrixTests: killed at (instances committed before the round + files staged or committed awaited): \(killedAt)")
        XCTAssertGreaterThanOrEqual(killedAt.count, 15, "most rounds were killed mid-session (committed before + after the kill point): \(killedAt)")
        let final = try IngestFixtures.agent(["ingest", disc, "--state-dir", state, "--report", dir.path("final.json")])
        XCTAssertEqual(final.status, 0, final.stderrText)
        let report = try IngestFixtures.report(dir.path("final.json"))
        let expected = Set(dicom(report).compactMap { $0["sopInstanceUID"] as? String })
        XCTAssertEqual(expected.count, 35)
        XCTAssertEqual(try checkArchive(state + "/archive"), expected)
        XCTAssertTrue(dicom(report).allSatisfy { $0["delivery"] as? String == "stored" })
    }
}
