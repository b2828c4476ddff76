import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// systemd-udevd for tests: the machine's own when one runs, else one started here (and stopped
/// when released), with the project's rules in /run/udev/rules.d. Tests that use it hold a lock
/// (the rules and loop devices are machine-wide), so parallel test processes take turns.
public final class UdevPeer: @unchecked Sendable {
    private var process: Process?
    private let lock: UdevLock
    private let installedRules: String?

    public init(rules: URL? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd-udevd") else {
            throw XCTSkip("systemd-udevd is not installed (Debian package udev): run scripts/install-deps")
        }
        guard geteuid() == 0 else { throw XCTSkip("udev and loop devices need root; this test runs as uid \(geteuid())") }
        lock = try UdevLock()
        if let rules {
            let target = "/run/udev/rules.d/\(rules.lastPathComponent)"
            try FileManager.default.createDirectory(atPath: "/run/udev/rules.d", withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.copyItem(atPath: rules.path, toPath: target)
            installedRules = target
        } else {
            installedRules = nil
        }
        if !UdevPeer.ping() {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/lib/systemd/systemd-udevd")
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            self.process = process
            let deadline = Date().addingTimeInterval(15)
            while !UdevPeer.ping() {
                guard process.isRunning, Date() < deadline else {
                    throw XCTSkip("systemd-udevd did not start here (a container without netlink uevents?)")
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        _ = try? TestSupport.run("udevadm", ["control", "--reload"], check: false)
    }

    /// Whether a udevd answers (the machine's own, or one a test started).
    public static func ping() -> Bool {
        (try? TestSupport.run("udevadm", ["control", "--ping", "--timeout=2"], check: false).status) == 0
    }

    /// Waits until udev has processed every queued event.
    public func settle() { _ = try? TestSupport.run("udevadm", ["settle", "--timeout=10"], check: false) }

    deinit {
        if let process, process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        if let installedRules { try? FileManager.default.removeItem(atPath: installedRules) }
    }
}

/// The machine-wide turn for tests that depend on udev: held by `UdevPeer`, and by tests that need
/// udevd *not* to run (no other test starts one while they hold it).
public final class UdevLock: @unchecked Sendable {
    private let fd: Int32

    public init() throws {
        fd = open("/tmp/kiosk-agent-udev-tests.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0, flock(fd, LOCK_EX) == 0 else { throw XCTSkip("cannot take the udev test lock") }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

/// A disc or USB image attached read-only to a free loop device; detached when released.
public final class LoopDevice: @unchecked Sendable {
    public let path: String
    private var attached = true

    public init(image: String) throws {
        let result = try TestSupport.run("losetup", ["--find", "--show", "--read-only", image], check: false)
        guard result.status == 0 else {
            throw XCTSkip("cannot attach a loop device here: \(result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        path = result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func detach() {
        guard attached else { return }
        attached = false
        _ = try? TestSupport.run("losetup", ["--detach", path], check: false)
    }

    deinit { detach() }
}
