import Foundation
import TestSupport
import XCTest

/// The media helper's sandbox (issue 7, part 2), proved from outside: the helper misbehaves the way
/// an exploited parser would (`KIOSK_AGENT_HELPER_FAULT`, debug builds) and the tests check what it
/// could not do, what the agent reported, and that everything read before the fault was kept.
final class SandboxTests: XCTestCase {
    private struct Run {
        let status: Int32
        let report: [String: Any]
        let stderr: String

        var mediaFindings: [(code: String, detail: String)] {
            ((report["media"] as? [String: Any])?["findings"] as? [[String: Any]] ?? []).map {
                ($0["code"] as? String ?? "", $0["detail"] as? String ?? "")
            }
        }
        var delivered: Int { (report["totals"] as? [String: Any])?["delivered"] as? Int ?? -1 }
        var files: Int { (report["totals"] as? [String: Any])?["files"] as? Int ?? -1 }
    }

    private func ingest(_ disc: String, _ dir: TestSupport.TemporaryDirectory, fault: String?, config: String = "", name: String) throws -> Run {
        try "[sandbox]\nstall_seconds = 3\n\(config)\n".write(toFile: dir.path("\(name).toml"), atomically: true, encoding: .utf8)
        let result = try IngestFixtures.agent(["ingest", disc, "--state-dir", dir.path("state-\(name)"), "--config", dir.path("\(name).toml"),
                                               "--report", dir.path("\(name).json")],
                                              environment: fault.map { ["KIOSK_AGENT_HELPER_FAULT": $0] } ?? [:])
        return Run(status: result.status, report: try IngestFixtures.report(dir.path("\(name).json")), stderr: result.stderrText)
    }

    /// No network, no file outside its scratch directory (written or read), no programs.
    func testHelperCannotReachTheNetworkTheStateDirectoryOrOtherPrograms() throws {
        let dir = try TestSupport.TemporaryDirectory("sandbox-reach")
        let disc = try DestinationTests.sampleDisc(dir, ct: 6, mr: 3, seed: 21)
        // A listener on loopback the helper tries to connect to.
        let (listener, port) = TestSupport.loopbackSocket(SOCK_STREAM)
        defer { close(listener) }
        XCTAssertEqual(listen(listener, 4), 0)

        let connect = try ingest(disc, dir, fault: "connect:\(port)@IM000004", name: "connect")
        XCTAssertTrue(connect.stderr.contains("fault socket: refused (errno 13)"), connect.stderr)
        XCTAssertFalse(connect.stderr.contains("ALLOWED"), connect.stderr)
        var pending = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(Glibc.poll(&pending, 1, 200), 0, "nothing connected to the listener")
        XCTAssertEqual(connect.status, 0, "the disc itself is imported")
        XCTAssertEqual(connect.delivered, 9)

        // Writing anywhere but scratch: beside the disc, into the state directory.
        let outside = dir.path("written-by-helper")
        let written = try ingest(disc, dir, fault: "write:\(outside)@IM000004", name: "write")
        XCTAssertTrue(written.stderr.contains("refused (errno 13)"), written.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: outside))
        let intoState = dir.path("state-state/archive/planted")
        try FileManager.default.createDirectory(atPath: dir.path("state-state/archive"), withIntermediateDirectories: true)
        let state = try ingest(disc, dir, fault: "write:\(intoState)@IM000004", name: "state")
        XCTAssertTrue(state.stderr.contains("refused (errno 13)"), state.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: intoState))

        // Reading what is not the medium: the configuration beside it, the archive's index.
        let read = try ingest(disc, dir, fault: "read:\(dir.path("read.toml"))@IM000004", name: "read")
        XCTAssertTrue(read.stderr.contains("fault read \(dir.path("read.toml")): refused (errno 13)"), read.stderr)
        let etc = try ingest(disc, dir, fault: "read:/etc/passwd@IM000004", name: "etc")
        XCTAssertTrue(etc.stderr.contains("fault read /etc/passwd: refused (errno 13)"), etc.stderr)
        let index = try XCTUnwrap(FileManager.default.enumerator(atPath: dir.path("state-connect"))?.compactMap { $0 as? String }
            .first { $0.hasSuffix(".sqlite") || $0.hasSuffix(".db") }, "the archive keeps an index")
        let archive = try ingest(disc, dir, fault: "read:\(dir.path("state-connect/\(index)"))@IM000004", name: "archive")
        XCTAssertTrue(archive.stderr.contains("refused (errno 13)"), archive.stderr)

        // Starting a program ends the helper (seccomp) and fails that disc only.
        let exec = try ingest(disc, dir, fault: "exec@IM000004", name: "exec")
        XCTAssertEqual(exec.status, 5)
        let finding = try XCTUnwrap(exec.mediaFindings.first { $0.code == "media.helper-crashed" }, "\(exec.mediaFindings)")
        XCTAssertTrue(finding.detail.contains("SIGSYS"), finding.detail)
        XCTAssertTrue(finding.detail.contains("IM000004"), finding.detail)
    }

    /// A crash, a hang, a memory or CPU hog: that disc fails with a media.helper-* finding naming
    /// where reading stopped, what was finished before is kept, and the agent exits normally.
    func testCrashingStallingAndGreedyHelpersFailOnlyTheirDisc() throws {
        let dir = try TestSupport.TemporaryDirectory("sandbox-faults")
        let disc = try DestinationTests.sampleDisc(dir, ct: 6, mr: 3, seed: 22)
        let cases: [(fault: String, config: String, code: String, words: String)] = [
            ("crash", "", "media.helper-crashed", "SIGSEGV"),
            ("hang", "", "media.helper-timeout", "no progress for 3 s"),
            ("memory", "memory_bytes = 1_073_741_824", "media.helper-crashed", "the media reader"),
            ("spin", "cpu_seconds = 1", "media.helper-crashed", "CPU time limit"),
        ]
        // The same disc without a fault: everything.
        let clean = try ingest(disc, dir, fault: nil, name: "clean")
        XCTAssertEqual(clean.status, 0)
        XCTAssertEqual(clean.delivered, 9)
        for (fault, config, code, words) in cases {
            let started = Date()
            let run = try ingest(disc, dir, fault: "\(fault)@IM000004", config: config, name: fault)
            XCTAssertEqual(run.status, 5, fault)
            let finding = try XCTUnwrap(run.mediaFindings.first { $0.code == code }, "\(fault): \(run.mediaFindings)")
            XCTAssertTrue(finding.detail.contains(words) && finding.detail.contains("IM000004") && finding.detail.contains("were not read"),
                          "\(fault): \(finding.detail)")
            // The report lists only what was finished before the fault, and each of those DICOM files
            // was stored whole (files still in the helper's hands when it died are not listed).
            XCTAssertLessThan(run.files, clean.files, fault)
            let dicom = (run.report["files"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "dicom" }
            XCTAssertEqual(dicom.count, run.delivered, fault)
            XCTAssertTrue(dicom.allSatisfy { $0["delivery"] as? String == "stored" }, "\(fault): \(dicom)")
            XCTAssertLessThan(Date().timeIntervalSince(started), 30, "\(fault) is stopped promptly")
            // Nothing is left behind: no helper process, no scratch directory.
            let scratch = dir.path("state-\(fault)/sandbox")
            XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: scratch)) ?? [], [], fault)
        }
    }

    /// The helper as the kernel sees it while it runs: seccomp filter, no new privileges, not
    /// dumpable, the configured limits, and only its five descriptors.
    func testTheHelperRunsWithItsLimitsAndOnlyItsDescriptors() throws {
        let dir = try TestSupport.TemporaryDirectory("sandbox-proc")
        let disc = try DestinationTests.sampleDisc(dir, ct: 6, mr: 3, seed: 23)
        try "[sandbox]\nstall_seconds = 6\ncpu_seconds = 77\nmemory_bytes = 2_147_483_648\nopen_files = 48\n"
            .write(toFile: dir.path("proc.toml"), atomically: true, encoding: .utf8)
        let agent = try IngestFixtures.startAgent(["ingest", disc, "--state-dir", dir.path("state"), "--config", dir.path("proc.toml"),
                                                   "--report", dir.path("proc.json")],
                                                  log: dir.path("proc.log"), environment: ["KIOSK_AGENT_HELPER_FAULT": "hang@IM000004"])
        defer { if agent.isRunning { kill(agent.processIdentifier, SIGKILL) } }
        var helper: Int32?
        XCTAssertTrue(TestSupport.poll(15) {
            // posix_spawn from whichever thread runs the session: its children are listed under that task.
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(agent.processIdentifier)/task")) ?? []
            // The agent's other child is its scanner: the helper is the one started as media-helper.
            helper = tasks.lazy.flatMap { task in
                ((try? String(contentsOfFile: "/proc/\(agent.processIdentifier)/task/\(task)/children", encoding: .utf8)) ?? "")
                    .split(separator: " ").compactMap { Int32($0) }
            }.first { child in
                ((try? String(contentsOfFile: "/proc/\(child)/cmdline", encoding: .utf8)) ?? "").contains("media-helper")
            }
            // Spawned and then sandboxed by itself: wait until the filter is on (it hangs further on).
            return helper.map { ((try? String(contentsOfFile: "/proc/\($0)/status", encoding: .utf8)) ?? "").contains("Seccomp:\t2") } ?? false
        }, "the agent starts a helper, which enters its sandbox")
        let pid = try XCTUnwrap(helper)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        XCTAssertTrue(status.contains("Seccomp:\t2"), status)
        XCTAssertTrue(status.contains("NoNewPrivs:\t1"), status)
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        for line in ["Max cpu time", "Max address space", "Max open files", "Max core file size"] {
            XCTAssertNotNil(limits.split(separator: "\n").first { $0.hasPrefix(line) }, limits)
        }
        func limit(_ name: String) -> [String] {
            limits.split(separator: "\n").first { $0.hasPrefix(name) }.map { $0.dropFirst(name.count).split(separator: " ").map(String.init) } ?? []
        }
        XCTAssertEqual(limit("Max cpu time").first, "77")
        XCTAssertEqual(limit("Max address space").first, "2147483648")
        XCTAssertEqual(limit("Max open files").first, "48")
        XCTAssertEqual(limit("Max core file size").first, "0")
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap(Int.init).sorted()
        XCTAssertEqual(Array(descriptors.prefix(5)), [0, 1, 2, 3, 4], "\(descriptors)")
        // Beyond 0-4 only what the helper opened itself on the medium (volume handles).
        let medium = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/3")
        XCTAssertEqual(medium, disc)
        for fd in descriptors.dropFirst(5) {
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) ?? ""
            XCTAssertTrue(target == disc || target.hasPrefix("pipe:") || target.hasPrefix("anon_inode:"), "fd \(fd) → \(target)")
        }
        XCTAssertTrue(TestSupport.poll(30) { !agent.isRunning }, "the stalled helper is stopped and the agent ends")
        XCTAssertEqual(agent.terminationStatus, 5)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/proc/\(pid)/status") &&
                       ((try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? "").contains("kiosk-agent"),
                       "the helper is gone")
    }

}
