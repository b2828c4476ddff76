import Credentials
import Foundation
import OperatorAccess
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The operator screen in a real terminal (tmux): sign-in by keyboard and touch, a disc inserted
/// (udev, loop device), the patient scanned and confirmed, the review, delivery to storescp;
/// resizing; the terminal going away under the running service.
final class ScreenTests: XCTestCase {
    private var binary: String { TestSupport.productsDirectory.appendingPathComponent("kiosk-agent").path }

    /// Adds an operator; returns its TOTP.
    private func addOperator(_ name: String, pin: String, state: String) throws -> TOTP {
        let add = try TestSupport.run("/bin/sh", ["-c", "echo \"$2\" | \"$0\" operator add \"$1\" --state-dir \"$3\"", binary, name, pin, state])
        let secret = try XCTUnwrap(add.stdoutText.split(separator: "\n").first { $0.hasPrefix("TOTP secret") }?.split(separator: " ").last)
        return TOTP(secret: try XCTUnwrap(Base32.decode(String(secret))))
    }

    /// Waits for a TOTP step no code was used in yet (a code is good once).
    private func freshCode(_ totp: TOTP, after used: inout UInt64?) -> String {
        while let last = used, totp.step(at: Date()) <= last { Thread.sleep(forTimeInterval: 0.5) }
        used = totp.step(at: Date())
        return totp.code(at: Date())
    }

    private func signIn(_ terminal: TmuxTerminal, name: String, pin: String, totp: TOTP, used: inout UInt64?) {
        XCTAssertTrue(terminal.wait(for: "Operator name"), terminal.screen)
        terminal.type(name)
        terminal.press("Enter")
        XCTAssertTrue(terminal.wait(for: "PIN for \(name)"), terminal.screen)
        // The PIN by touch, on the keypad.
        for digit in pin { XCTAssertTrue(terminal.touch("|   \(digit)   |"), terminal.screen); Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertTrue(terminal.wait(for: String(repeating: "*", count: pin.count)), terminal.screen)
        terminal.touch("Next")
        XCTAssertTrue(terminal.wait(for: "6-digit code"), terminal.screen)
        terminal.type(freshCode(totp, after: &used))
        terminal.press("Enter")
    }

    func testAnOperatorImportsADiscWithTouchesAndABarcodeScanner() throws {
        let udev = try UdevPeer(rules: TestSupport.packageRoot.appendingPathComponent("udev-rules/70-kiosk-agent.rules"))
        let dir = try TestSupport.TemporaryDirectory("screen")
        let state = dir.path("state")
        let totp = try addOperator("alice", pin: "402918", state: state)
        let disc = try DestinationTests.sampleDisc(dir, ct: 4, mr: 2, seed: 21)
        let other = try DestinationTests.sampleDisc(dir, ct: 2, mr: 1, seed: 22)
        let scp = try StoreSCPPeer()
        let terminal = try TmuxTerminal(command: [binary, "run", "--include-loop-devices", "--state-dir", state,
                                                  "--destination", "dicom://\(scp.aeTitle)@127.0.0.1:\(scp.port)"])
        var used: UInt64?

        // A wrong code first: refused, and the screen says so in words.
        XCTAssertTrue(terminal.wait(for: "Operator name"), terminal.screen)
        let agents = terminal.processes(running: binary)
        defer { agents.forEach { kill($0, SIGTERM) } }
        terminal.type("alice"); terminal.press("Enter")
        terminal.wait(for: "PIN for alice")
        terminal.type("402918"); terminal.press("Enter")
        terminal.wait(for: "6-digit code")
        terminal.type("000000"); terminal.press("Enter")
        XCTAssertTrue(terminal.wait(for: "Sign-in failed"), terminal.screen)

        signIn(terminal, name: "alice", pin: "402918", totp: totp, used: &used)
        XCTAssertTrue(terminal.wait(for: "Insert the patient's disc"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("Operator: alice"))

        // The disc: the patients on it, the ID scanned at the desk, an explicit yes.
        var loop = try LoopDevice(image: disc)
        udev.settle()
        XCTAssertTrue(terminal.wait(for: "Who are these images for?", seconds: 30), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("DOE, JANE  ID KS123456  born 1970-01-01  2 study(ies)"), terminal.screen)
        terminal.type("KS123456")
        terminal.press("Enter")
        XCTAssertTrue(terminal.wait(for: "Confirm the patient"), terminal.screen)
        terminal.touch("Yes, import")
        XCTAssertTrue(terminal.wait(for: "Check complete", seconds: 60), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("6 image file(s) checked"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("A program on the disc (such as a viewer) was left out."), terminal.screen)
        XCTAssertEqual(scp.received.count, 0, "nothing leaves the kiosk before the review")
        terminal.touch("Send to the PACS")
        XCTAssertTrue(terminal.wait(for: "Done", seconds: 60), terminal.screen)
        XCTAssertEqual(scp.received.count, 6)
        // No printer is configured: the receipt's code is on the screen.
        XCTAssertTrue(terminal.wait(for: "Receipt code: "), terminal.screen)
        let code = try XCTUnwrap(terminal.screen.firstMatch(of: /Receipt code: ([0-9A-Z]{5}-[0-9A-Z]{5})/).map { String($0.1) }, terminal.screen)
        XCTAssertTrue(terminal.screen.contains("`kiosk-agent receipt show \(code)`"), terminal.screen)
        XCTAssertEqual(try IngestFixtures.agent(["receipt", "show", code, "--state-dir", state]).status, 0, "the code shown finds the receipt")
        terminal.press("Enter")
        // The disc is still in the drive: the screen asks to take it out, not to insert one.
        XCTAssertTrue(terminal.wait(for: "Remove the disc"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("Disc still in the drive"), terminal.screen)
        XCTAssertFalse(terminal.screen.contains("Insert the patient's disc"), terminal.screen)
        loop.detach()
        udev.settle()
        XCTAssertTrue(terminal.wait(for: "Insert the patient's disc"), terminal.screen)

        // Another disc, an ID that is not on it: a second confirmation with a recorded reason.
        loop = try LoopDevice(image: other)
        udev.settle()
        XCTAssertTrue(terminal.wait(for: "Who are these images for?", seconds: 30), terminal.screen)
        terminal.type("H-778899")
        terminal.press("Enter")
        XCTAssertTrue(terminal.wait(for: "Patient ID not on this disc"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("The ID H-778899 is not on this disc."), terminal.screen)
        terminal.touch("Verified with the patient's photo ID")
        XCTAssertTrue(terminal.wait(for: "Check complete", seconds: 60), terminal.screen)
        terminal.press("Escape")      // cancel at review: withdrawn from the spool, nothing sent
        XCTAssertTrue(terminal.wait(for: "Remove the disc"), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("Cancelled: nothing from this disc was sent."), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("Disc still in the drive - remove it"), terminal.screen)
        // Or read it again, from the start.
        terminal.touch("Start again")
        XCTAssertTrue(terminal.wait(for: "Who are these images for?", seconds: 30), terminal.screen)
        terminal.press("Escape")
        XCTAssertTrue(terminal.wait(for: "Remove the disc"), terminal.screen)
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(scp.received.count, 6, "the cancelled study was not sent")
        loop.detach()
        udev.settle()
        XCTAssertTrue(terminal.wait(for: "Insert the patient's disc"), terminal.screen)

        // Resizing: a smaller window re-lays out; a tiny one asks to be enlarged.
        terminal.resize(columns: 60, rows: 20)
        XCTAssertTrue(terminal.wait(for: "Insert the patient's"), terminal.screen)
        // Too small: the request to enlarge is wrapped to fit whole, down to very small windows.
        terminal.resize(columns: 40, rows: 12)
        XCTAssertTrue(terminal.wait(for: "least)."), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("Please enlarge this window (44x16 at"), terminal.screen)
        terminal.resize(columns: 12, rows: 4)
        XCTAssertTrue(terminal.wait(for: "window."), terminal.screen)
        XCTAssertTrue(terminal.screen.contains("enlarge this"), terminal.screen)
        terminal.resize(columns: 100, rows: 32)
        XCTAssertTrue(terminal.wait(for: "Sign out"), terminal.screen)
        XCTAssertFalse(terminal.screen.contains("Fatal error") || terminal.screen.contains("Stack"), terminal.screen)

        // The terminal goes away: the service keeps running and logs it.
        terminal.close()
        var log = ""
        for _ in 0..<100 where !log.contains("the operator terminal went away") {
            Thread.sleep(forTimeInterval: 0.1)
            log = (try? String(contentsOfFile: "\(state)/logs/kiosk-agent.log", encoding: .utf8)) ?? ""
        }
        XCTAssertTrue(log.contains("the operator terminal went away"), log)
        XCTAssertEqual(agents.count, 1, "the service ran in the terminal")
        XCTAssertTrue(agents.allSatisfy { !TestSupport.hasEnded($0) }, "the service survives its terminal")
        XCTAssertTrue(log.contains("cancelled at review"), log)
        XCTAssertFalse(log.contains("DOE") || log.contains("KS123456") || log.contains("H-778899"), "no patient data in the log")
    }

    func testRepeatedFailuresLockAndIdleSignsOut() throws {
        let dir = try TestSupport.TemporaryDirectory("screen-lock")
        let state = dir.path("state")
        let totp = try addOperator("bob", pin: "739104", state: state)
        let config = dir.path("kiosk.toml")
        try Data("[kiosk]\nidle_timeout_seconds = 10\n".utf8).write(to: URL(fileURLWithPath: config))
        let terminal = try TmuxTerminal(command: [binary, "run", "--state-dir", state, "--config", config, "--destination", "archive:"])
        XCTAssertTrue(terminal.wait(for: "Operator name"), terminal.screen)
        let agents = terminal.processes(running: binary)
        defer { agents.forEach { kill($0, SIGTERM) } }
        var used: UInt64?
        signIn(terminal, name: "bob", pin: "739104", totp: totp, used: &used)
        XCTAssertTrue(terminal.wait(for: "Insert the patient's disc"), terminal.screen)
        XCTAssertTrue(terminal.wait(for: "Signed out after", seconds: 20), "idle timeout: \(terminal.screen)")
        for _ in 1...5 {
            terminal.wait(for: "Operator name")
            terminal.type("bob"); terminal.press("Enter")
            terminal.wait(for: "PIN for bob")
            terminal.type("111222"); terminal.press("Enter")
            terminal.wait(for: "6-digit code")
            terminal.type("123456"); terminal.press("Enter")
            Thread.sleep(forTimeInterval: 0.3)
        }
        XCTAssertTrue(terminal.wait(for: "locked until"), terminal.screen)
        let list = try IngestFixtures.agent(["operator", "list", "--state-dir", state])
        XCTAssertTrue(list.stdoutText.contains("locked until"), list.stdoutText)
        // Sign-ins, failures, the lockout and the idle sign-out are in the audit trail, which verifies.
        let export = try IngestFixtures.agent(["audit", "export", "--state-dir", state])
        for type in ["service.start", "operator.signin", "operator.signout", "operator.signin-failed", "operator.locked"] {
            XCTAssertTrue(export.stdoutText.contains("\"type\":\"\(type)\""), "\(type) missing")
        }
        XCTAssertEqual(try IngestFixtures.agent(["audit", "verify", "--state-dir", state]).status, 0)
    }
}
