import Foundation
import TestSupport
import XCTest

/// The provisioning files IT installs, checked by systemd's own tools.
final class ProvisioningTests: XCTestCase {
    private var binary: String { TestSupport.productsDirectory.appendingPathComponent("kiosk-agent").path }

    /// The unit with ExecStart pointing at the built binary (verify checks it exists and runs).
    private func unitForTest(_ dir: TestSupport.TemporaryDirectory, _ name: String = "kiosk-agent.service", as installed: String? = nil) throws -> String {
        let text = try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("systemd/\(name)"), encoding: .utf8)
        let path = dir.path(installed ?? name)
        let portal = TestSupport.productsDirectory.appendingPathComponent("dicom-portal").path
        try Data(text.replacingOccurrences(of: "/usr/bin/kiosk-agent", with: binary)
            .replacingOccurrences(of: "/usr/bin/dicom-portal", with: portal).utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testTheUnitsVerifyAndTheirExposureIsLow() throws {
        let dir = try TestSupport.TemporaryDirectory("units")
        for name in ["kiosk-agent.service", "kiosk-agent-screen.service"] {
            try check(try unitForTest(dir, name))
        }
        // The portal's services run no media devices and no watchdog; the worker's media helper sandboxes itself
        // (the edge runs no helper: it parses no DICOM, so it needs no Landlock or seccomp calls either).
        let edge = ["CapabilityBoundingSet=", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n", "SystemCallFilter=", "DevicePolicy=closed", "MemoryDenyWriteExecute=yes"]
        let portal = edge + ["SystemCallFilter=landlock_create_ruleset landlock_add_rule landlock_restrict_self seccomp"]
        try check(try unitForTest(dir, "dicom-portal-core.service"), required: portal)
        try check(try unitForTest(dir, "dicom-portal-worker@.service", as: "dicom-portal-worker@1.service"), required: portal)
        try check(try unitForTest(dir, "dicom-portal-edge.service"), required: edge)
    }

    private static let kioskSettings = [
        "CapabilityBoundingSet=", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
        "RestrictAddressFamilies=", "SystemCallFilter=", "DevicePolicy=closed", "Type=notify", "WatchdogSec=",
        // The media helper's own sandbox must stay possible under the unit's filter.
        "SystemCallFilter=landlock_create_ruleset landlock_add_rule landlock_restrict_self seccomp"]

    private func check(_ unit: String, required: [String] = kioskSettings) throws {
        let analyze = try TestSupport.tool("systemd-analyze")
        let verify = try TestSupport.run(analyze, ["verify", unit], check: false)
        XCTAssertEqual(verify.status, 0, verify.stderrText)
        XCTAssertEqual(verify.stderrText.trimmingCharacters(in: .whitespacesAndNewlines), "", "no warnings")
        let security = try TestSupport.run(analyze, ["security", "--offline=true", unit], check: false)
        let line = try XCTUnwrap(security.stdoutText.split(separator: "\n").first { $0.contains("Overall exposure level") },
                                 security.stdoutText + security.stderrText)
        let score = try XCTUnwrap(Double(line.split(separator: ":").last!.split(separator: " ").first!), String(line))
        print("systemd-analyze security: \(line)")
        XCTAssertLessThanOrEqual(score, 2.0, "exposure \(score): \(security.stdoutText)")
        for setting in required {
            XCTAssertTrue(try String(contentsOfFile: unit, encoding: .utf8).contains(setting), setting)
        }
    }

    func testInstallIntoADestdirGivesAWorkingLayout() throws {
        let dir = try TestSupport.TemporaryDirectory("install")
        let root = dir.path("root")
        let install = try TestSupport.run(TestSupport.packageRoot.appendingPathComponent("scripts/install-kiosk").path, [],
                                          environment: ["DESTDIR": root, "KIOSK_AGENT_BINARY": binary], check: false)
        XCTAssertEqual(install.status, 0, install.stderrText)
        for path in ["usr/bin/kiosk-agent", "usr/share/kiosk-agent/signatures/kiosk-agent.ndb",
                     "usr/lib/systemd/system/kiosk-agent.service", "usr/lib/systemd/system/kiosk-agent-screen.service", "usr/lib/udev/rules.d/70-kiosk-agent.rules",
                     "usr/lib/sysusers.d/kiosk-agent.conf", "usr/lib/tmpfiles.d/kiosk-agent.conf", "etc/kiosk-agent/kiosk-agent.toml"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(root)/\(path)"), path)
        }
        // The user and the state directory, created by systemd's tools inside the destdir.
        let sysusers = try TestSupport.run(try TestSupport.tool("systemd-sysusers"), ["--root", root], check: false)
        XCTAssertEqual(sysusers.status, 0, sysusers.stderrText)
        XCTAssertTrue(try String(contentsOfFile: "\(root)/etc/passwd", encoding: .utf8).contains("kiosk:"))
        let tmpfiles = try TestSupport.run(try TestSupport.tool("systemd-tmpfiles"), ["--root", root, "--create"], check: false)
        XCTAssertEqual(tmpfiles.status, 0, tmpfiles.stderrText)
        for state in ["archive", "quarantine", "reports", "spool", "operators", "audit", "receipts", "analytics"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(root)/var/lib/kiosk-agent/\(state)"), state)
        }
        // The installed binary finds the installed configuration valid.
        let check = try TestSupport.run("\(root)/usr/bin/kiosk-agent",
                                        ["config", "check", "--config", "\(root)/etc/kiosk-agent/kiosk-agent.toml",
                                         "--state-dir", dir.path("state")], check: false)
        XCTAssertEqual(check.status, 0, check.stderrText)
    }
}
