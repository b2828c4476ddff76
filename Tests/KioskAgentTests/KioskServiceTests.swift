import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `kiosk-agent run --no-screen` end to end: systemd-udevd with the project's rules, patient disc
/// images attached to loop devices, storescp as the PACS, sd_notify on a socket of the test's own.
final class KioskServiceTests: XCTestCase {
    /// A datagram socket standing in for systemd's notify socket.
    final class NotifySocket {
        let path: String
        private let fd: Int32

        init(_ path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard fd >= 0, bound == 0 else { throw XCTSkip("cannot bind a unix datagram socket at \(path)") }
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        /// Messages received until `seconds` pass or one contains `text`.
        func wait(for text: String, seconds: Double) -> [String] {
            var messages: [String] = []
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 {
                    messages.append(String(decoding: buffer[0..<n], as: UTF8.self))
                    if messages.last!.contains(text) { break }
                }
            }
            return messages
        }

        deinit { close(fd); unlink(path) }
    }


    func testInsertedDiscsAreImportedAndDeliveredOneAfterAnother() throws {
        let udev = try UdevPeer(rules: TestSupport.packageRoot.appendingPathComponent("udev-rules/70-kiosk-agent.rules"))
        let dir = try TestSupport.TemporaryDirectory("kiosk-run")
        let first = try DestinationTests.sampleDisc(dir, ct: 6, mr: 3, seed: 11)
        let big = try DestinationTests.sampleDisc(dir, ct: 120, mr: 3, seed: 12)
        let third = try DestinationTests.sampleDisc(dir, ct: 4, mr: 2, seed: 13)
        let scp = try StoreSCPPeer()
        let notify = try NotifySocket(dir.path("notify.sock"))
        let log = dir.path("agent.log")
        // The accountability around it: ATNA to rsyslog over UDP, receipts to a CUPS queue, the dashboard.
        let ca = try TestCA(dir)
        let server = try ca.issue("repository", subjectAltName: "IP:127.0.0.1")
        let repository = try RsyslogPeer(certificate: server.certificate, key: server.key, ca: ca.certificate)
        let cups = try? CUPSPeer()
        let dashboardPort = TestSupport.freePort()
        try """
            [atna]
            repository = "syslog+udp://127.0.0.1:\(repository.udpPort)"
            [dashboard]
            port = \(dashboardPort)
            \(cups.map { "[receipt]\nprinter = \"\($0.queue)\"" } ?? "")
            """.write(toFile: dir.path("kiosk.toml"), atomically: true, encoding: .utf8)
        let agent = try IngestFixtures.startAgent(["run", "--no-screen", "--include-loop-devices", "--state-dir", dir.path("state"),
                                                   "--config", dir.path("kiosk.toml"),
                                                   "--destination", "dicom://\(scp.aeTitle)@127.0.0.1:\(scp.port)"],
                                                  log: log, environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000",
                                                                          // An exploited parser on one disc (issue 7): see below.
                                                                          "KIOSK_AGENT_HELPER_FAULT": "crash@CRASHME"]
                                                      .merging(cups?.environment ?? [:]) { $1 })
        defer { if agent.isRunning { kill(agent.processIdentifier, SIGKILL) } }
        func text() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        let ready = notify.wait(for: "READY=1", seconds: 30)
        XCTAssertTrue(ready.contains { $0.contains("READY=1") }, "sd_notify READY: \(ready) \(text())")
        XCTAssertTrue(notify.wait(for: "WATCHDOG=1", seconds: 5).contains { $0.contains("WATCHDOG=1") }, "watchdog pings")

        // A disc: imported and delivered, then taken out.
        var loop = try LoopDevice(image: first)
        udev.settle()
        XCTAssertTrue(TestSupport.poll(60) { scp.received.count == 9 && text().contains("session done") }, "first disc: \(scp.received.count)\n\(text())")
        func events() -> [String] {
            repository.received.compactMap { message in
                let (id, problems) = ATNARules.check(message.message)
                XCTAssertEqual(problems, [], message.message)
                return id
            }
        }
        XCTAssertTrue(TestSupport.poll(20) { Set(events()).isSuperset(of: ["110100", "110107", "110102", "110104"]) },
                      "ATNA from the service: \(events())\n\(text())")
        if let cups {
            let printed = cups.printed()
            XCTAssertTrue(printed.contains("Imaging disc import receipt") && printed.contains("Stored: 9"), printed)
        }
        let stats = try TestSupport.run("curl", ["-sf", "http://127.0.0.1:\(dashboardPort)/api/stats"]).stdoutText
        XCTAssertTrue(stats.contains("\"sessions\" : 1"), stats)
        loop.detach()
        udev.settle()
        XCTAssertTrue(TestSupport.poll(15) { text().contains("media removed") }, text())

        // A disc whose reading crashes the sandboxed media helper: that medium fails, the service carries on.
        let crashTree = dir.url.appendingPathComponent("crash-tree")
        try FileManager.default.createDirectory(at: crashTree, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm"),
                                         to: crashTree.appendingPathComponent("CRASHME"))
        try TestSupport.run("genisoimage", ["-quiet", "-J", "-R", "-V", "CRASH", "-o", dir.path("crash.iso"), crashTree.path])
        loop = try LoopDevice(image: dir.path("crash.iso"))
        udev.settle()
        XCTAssertTrue(TestSupport.poll(30) { text().contains("media unreadable") }, text())
        XCTAssertTrue(agent.isRunning, "the service survives a crashing media helper")
        loop.detach()
        udev.settle()
        XCTAssertTrue(TestSupport.poll(15) { text().components(separatedBy: "session closed").count >= 2 }, text())

        // A disc pulled out right after it was inserted: whatever stage it reached, the session ends cleanly.
        loop = try LoopDevice(image: big)
        XCTAssertTrue(TestSupport.poll(30) { text().components(separatedBy: "media inserted").count == 4 }, text())
        loop.detach()
        udev.settle()
        XCTAssertTrue(TestSupport.poll(60) { text().components(separatedBy: "session closed").count >= 3 || text().components(separatedBy: "media removed").count >= 3 },
                      text())
        XCTAssertTrue(agent.isRunning, "the service survives a medium pulled mid-session")

        // The next disc works.
        let before = scp.received.count
        let last = try LoopDevice(image: third)
        udev.settle()
        XCTAssertTrue(TestSupport.poll(60) { scp.received.count >= before + 6 }, "third disc: \(scp.received.count - before)\n\(text())")
        last.detach()

        kill(agent.processIdentifier, SIGTERM)
        XCTAssertTrue(TestSupport.poll(20) { !agent.isRunning }, "SIGTERM stops the service")
        XCTAssertEqual(agent.terminationStatus, 0, text())
        XCTAssertTrue(TestSupport.poll(10) { repository.received.filter { $0.message.contains("csd-code=\"110121\"") }.count == 1 }, "Application Stop")
        XCTAssertFalse(text().contains("DOE^JANE") || text().contains("KS123456"), "no patient data in the log")
    }
}
