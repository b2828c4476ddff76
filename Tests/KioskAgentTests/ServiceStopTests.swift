import Crypto
import Delivery
import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `kiosk-agent run` stops on SIGTERM and SIGINT — tested on the release binary, the one a kiosk
/// runs (an optimised build once kept running until systemd's SIGKILL): headless without udev,
/// headless with udev and a disc being imported, and with the operator screen. Each stop ends
/// within a bound that holds on a busy machine, with `service.stop` in the audit trail, and a
/// session in progress is either finished (kept) or recorded as interrupted with everything it
/// committed whole.
final class ServiceStopTests: XCTestCase {
    /// Generous: a stop takes well under a second on an idle machine; the bound is for a busy one.
    private let stopBound: Double = 20

    /// `.build/release/kiosk-agent`, which scripts/test builds before the tests.
    private func releaseBinary() throws -> String {
        let path = TestSupport.packageRoot.appendingPathComponent(".build/release/kiosk-agent").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            let reason = "the release binary is not built at \(path): run `swift build -c release --product kiosk-agent` (scripts/test does)"
            print("ServiceStopTests skipped: \(reason)")
            throw XCTSkip(reason)
        }
        return path
    }

    /// A configuration whose dashboard takes a free port (the default one may be another test's).
    private func configuration(_ dir: TestSupport.TemporaryDirectory, _ extra: String = "") throws -> String {
        let path = dir.path("kiosk-\(UUID().uuidString.prefix(8)).toml")
        try "[dashboard]\nport = \(TestSupport.freePort())\n\(extra)".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// The audit trail's event types, in order (without the trail's own checkpoints).
    private func auditTypes(_ state: String) throws -> [String] {
        let export = try IngestFixtures.agent(["audit", "export", "--state-dir", state])
        return export.stdoutText.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["type"] as? String
        }.filter { $0 != "audit.checkpoint" }
    }

    /// Sends `signal` and waits (bounded) for the agent to exit; returns how long it took.
    private func stop(_ agent: Process, with signal: Int32, log: String, file: StaticString = #filePath, line: UInt = #line) -> Double {
        let sent = Date()
        kill(agent.processIdentifier, signal)
        let stopped = TestSupport.poll(stopBound) { !agent.isRunning }
        let took = Date().timeIntervalSince(sent)
        XCTAssertTrue(stopped, "signal \(signal): still running after \(stopBound) s\n\(text(log))", file: file, line: line)
        if !stopped { kill(agent.processIdentifier, SIGKILL); agent.waitUntilExit() }
        XCTAssertEqual(agent.terminationReason, .exit, text(log), file: file, line: line)
        XCTAssertEqual(agent.terminationStatus, 0, text(log), file: file, line: line)
        return took
    }

    /// Headless with no udevd on the machine: the service says media cannot be seen (log and
    /// sd_notify STATUS) instead of "ready", and SIGTERM and SIGINT both stop it.
    func testTheReleaseBuildStopsOnSIGTERMAndSIGINTWithoutUdev() throws {
        let binary = try releaseBinary()
        // No other test starts a udevd while this one runs.
        let udevTurn = try UdevLock()
        let dir = try TestSupport.TemporaryDirectory("stop-no-udev")
        for signal in [SIGTERM, SIGINT] {
            let notify = try KioskServiceTests.NotifySocket(dir.path("notify-\(signal).sock"))
            let state = dir.path("state-\(signal)"), log = dir.path("agent-\(signal).log")
            let agent = try IngestFixtures.startAgent(["run", "--no-screen", "--state-dir", state, "--destination", "archive:",
                                                       "--config", try configuration(dir)],
                                                      log: log, environment: ["NOTIFY_SOCKET": notify.path], binary: binary)
            defer { if agent.isRunning { kill(agent.processIdentifier, SIGKILL) } }
            let messages = notify.wait(for: "READY=1", seconds: 30)
            XCTAssertTrue(messages.contains { $0.contains("READY=1") }, "\(messages)\n\(text(log))")
            if UdevPeer.ping() {
                print("ServiceStopTests: this machine runs its own udevd; the without-udev wording is not checked")
            } else {
                XCTAssertTrue(messages.contains { $0.contains("STATUS=udev (systemd-udevd) is not running") }, "\(messages)")
                XCTAssertTrue(TestSupport.poll(10) { text(log).contains("is not running: no disc or USB stick will be seen") }, text(log))
                XCTAssertFalse(text(log).contains("ready: watching"), text(log))
            }
            let took = stop(agent, with: signal, log: log)
            print("ServiceStopTests: signal \(signal) without udev stopped the release build in \(String(format: "%.2f", took)) s")
            XCTAssertEqual(try auditTypes(state).suffix(1), ["service.stop"], text(log))
            XCTAssertTrue(text(log).contains("stopped"), text(log))
        }
        withExtendedLifetime(udevTurn) {}
    }

    /// With udevd and a disc being imported into the archive: SIGTERM stops the service within
    /// the bound; the session either finished (its report kept) or is recorded as interrupted,
    /// and the archive holds only whole instances. The same disc then completes the study with
    /// nothing stored twice. The media helper does not outlive the agent.
    func testTheReleaseBuildStopsMidSessionAndKeepsWhatItCommitted() throws {
        let binary = try releaseBinary()
        let udev = try UdevPeer(rules: TestSupport.packageRoot.appendingPathComponent("udev-rules/70-kiosk-agent.rules"))
        let dir = try TestSupport.TemporaryDirectory("stop-mid-session")
        let disc = try DestinationTests.sampleDisc(dir, ct: 160, mr: 4, seed: 41)
        let notify = try KioskServiceTests.NotifySocket(dir.path("notify.sock"))
        let state = dir.path("state"), log = dir.path("agent.log")
        let agent = try IngestFixtures.startAgent(["run", "--no-screen", "--include-loop-devices", "--state-dir", state,
                                                   "--destination", "archive:", "--config", try configuration(dir)],
                                                  log: log, environment: ["NOTIFY_SOCKET": notify.path], binary: binary)
        defer { if agent.isRunning { kill(agent.processIdentifier, SIGKILL) } }
        XCTAssertTrue(notify.wait(for: "READY=1", seconds: 30).contains { $0.contains("STATUS=waiting for media") }, text(log))
        let loop = try LoopDevice(image: disc)
        udev.settle()
        // The import has started: the service says so, and its media helper runs.
        XCTAssertTrue(notify.wait(for: "STATUS=importing", seconds: 60).contains { $0.contains("STATUS=importing") }, text(log))
        var helpers: [Int32] = []
        _ = TestSupport.poll(10) {
            helpers = TestSupport.descendants(of: agent.processIdentifier)
            return !helpers.isEmpty || text(log).contains("session done")
        }
        let took = stop(agent, with: SIGTERM, log: log)
        print("ServiceStopTests: SIGTERM mid-session stopped the release build in \(String(format: "%.2f", took)) s")
        loop.detach()
        XCTAssertTrue(TestSupport.poll(10) { helpers.allSatisfy(TestSupport.hasEnded) }, "the media helper ends with the agent: \(helpers)")

        let types = try auditTypes(state)
        XCTAssertEqual(types.last, "service.stop", "\(types)")
        let kept = types.contains("session.end"), interrupted = types.contains("session.interrupted")
        XCTAssertTrue(kept || interrupted, "the session was either kept or recorded as interrupted: \(types)\n\(text(log))")
        print("ServiceStopTests: the session in progress was \(interrupted ? "interrupted" : "finished and kept")")
        if interrupted { XCTAssertTrue(text(log).contains("what was committed stays whole"), text(log)) }

        // Whatever was archived is whole; the same disc finishes the study, nothing stored twice.
        let archive = try Archive(root: URL(fileURLWithPath: state + "/archive"))
        let before = try archive.instances()
        for instance in before {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: state + "/archive").appendingPathComponent(instance.path))
            XCTAssertEqual(SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined(), instance.sha256,
                           "\(instance.sopInstanceUID): the archived file is whole")
        }
        let again = try IngestFixtures.agent(["ingest", disc, "--state-dir", state, "--report", dir.path("again.json")])
        XCTAssertEqual(again.status, 0, again.stderrText)
        let after = try Archive(root: URL(fileURLWithPath: state + "/archive")).instances()
        XCTAssertEqual(after.count, 164)
        XCTAssertEqual(Set(after.map(\.sopInstanceUID)).count, after.count, "nothing stored twice")
        XCTAssertTrue(Set(after.map(\.sopInstanceUID)).isSuperset(of: before.map(\.sopInstanceUID)))
    }

    /// With udevd and a disc whose study cannot be sent (the PACS accepts the connection and never
    /// answers): the session is still waiting for the PACS when SIGTERM comes, so it is recorded as
    /// interrupted after the grace, and its instances stay in the spool, pending, to be sent later.
    func testTheReleaseBuildStopsWhileDeliveryWaitsAndKeepsTheSpool() throws {
        let binary = try releaseBinary()
        let udev = try UdevPeer(rules: TestSupport.packageRoot.appendingPathComponent("udev-rules/70-kiosk-agent.rules"))
        let dir = try TestSupport.TemporaryDirectory("stop-delivery")
        let disc = try DestinationTests.sampleDisc(dir, ct: 4, mr: 2, seed: 42)
        // A PACS that takes the connection and never answers.
        let silent = Process()
        silent.executableURL = URL(fileURLWithPath: try TestSupport.tool("python3"))
        silent.arguments = ["-c", """
            import socket
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
            print(s.getsockname()[1], flush=True)
            held = []
            while True:
                held.append(s.accept()[0])
            """]
        let output = Pipe()
        silent.standardOutput = output
        try silent.run()
        defer { silent.terminate() }
        let port = try XCTUnwrap(Int(String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        let config = try configuration(dir, "[delivery]\nwait_seconds = 120\n")
        let notify = try KioskServiceTests.NotifySocket(dir.path("notify.sock"))
        let state = dir.path("state"), log = dir.path("agent.log")
        let agent = try IngestFixtures.startAgent(["run", "--no-screen", "--include-loop-devices", "--state-dir", state,
                                                   "--config", config, "--destination", "dicom://PACS@127.0.0.1:\(port)"],
                                                  log: log, environment: ["NOTIFY_SOCKET": notify.path], binary: binary)
        defer { if agent.isRunning { kill(agent.processIdentifier, SIGKILL) } }
        XCTAssertTrue(notify.wait(for: "READY=1", seconds: 30).contains { $0.contains("READY=1") }, text(log))
        let loop = try LoopDevice(image: disc)
        udev.settle()
        XCTAssertTrue(notify.wait(for: "STATUS=importing", seconds: 60).contains { $0.contains("STATUS=importing") }, text(log))
        // Every instance is spooled (the disc is read); the session now waits for the silent PACS.
        func waiting() -> Int {
            let list = try? IngestFixtures.agent(["spool", "list", "--json", "--state-dir", state])
            let rows = (try? JSONSerialization.jsonObject(with: list?.stdout ?? Data()) as? [[String: Any]]) ?? []
            return rows.filter { ["pending", "sending"].contains($0["state"] as? String) }.count
        }
        func reports() -> String {
            let folder = state + "/reports"
            return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).compactMap { name in
                (try? IngestFixtures.report(folder + "/" + name)).map { report in
                    DestinationTests.files(report).map { "\($0["path"] ?? "") \($0["verdict"] ?? "") \($0["delivery"] ?? "") \(($0["findings"] as? [[String: Any]] ?? []).map { "\($0["code"] ?? ""): \($0["detail"] ?? "")" })" }
                        .joined(separator: "\n")
                }
            }.joined(separator: "\n")
        }
        XCTAssertTrue(TestSupport.poll(60) { waiting() == 6 }, "\(text(log))\n\(reports())")
        let took = stop(agent, with: SIGTERM, log: log)
        print("ServiceStopTests: SIGTERM while delivery waits stopped the release build in \(String(format: "%.2f", took)) s")
        loop.detach()
        XCTAssertGreaterThan(took, 4, "the running step had its grace")
        let types = try auditTypes(state)
        XCTAssertEqual(types.last, "service.stop", "\(types)")
        XCTAssertTrue(types.contains("session.interrupted"), "\(types)\n\(text(log))")
        XCTAssertTrue(text(log).contains("what was committed stays whole"), text(log))
        XCTAssertEqual(waiting(), 6, "kept in the spool, to be sent later")
    }

    /// The screen service with no operator: the screen tells IT to add one, notices the operator
    /// added meanwhile without a restart, and SIGTERM stops it.
    func testTheScreenWithoutOperatorAsksITAndTheReleaseBuildStopsOnSIGTERM() throws {
        let binary = try releaseBinary()
        let dir = try TestSupport.TemporaryDirectory("stop-screen")
        let state = dir.path("state")
        let terminal = try TmuxTerminal(command: [binary, "run", "--state-dir", state, "--destination", "archive:",
                                                  "--config", try configuration(dir)])
        XCTAssertTrue(terminal.wait(for: "no operator has been added", seconds: 30), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("kiosk-agent operator add NAME"), terminal.screen)
        XCTAssertFalse(terminal.screen.contains("Operator name"), terminal.screen)
        let agents = terminal.processes(running: binary)
        XCTAssertEqual(agents.count, 1, "the service runs in the terminal: \(terminal.screen)")
        guard let agent = agents.first else { return }

        let add = try TestSupport.run("/bin/sh", ["-c", "echo 402918 | \"$0\" operator add carol --state-dir \"$1\"", binary, state])
        XCTAssertEqual(add.status, 0, add.stderrText)
        XCTAssertTrue(terminal.wait(for: "Operator name", seconds: 20), "the screen offers sign-in once an operator exists: \(terminal.screen)")

        kill(agent, SIGTERM)
        XCTAssertTrue(TestSupport.poll(stopBound) { TestSupport.hasEnded(agent) }, "SIGTERM stops the screen service: \(terminal.screen)")
        let types = try auditTypes(state)
        XCTAssertEqual(types.first, "service.start", "\(types)")
        XCTAssertEqual(types.last, "service.stop", "\(types)")
        XCTAssertFalse(terminal.screen.contains("Fatal error"), terminal.screen)
    }
}
