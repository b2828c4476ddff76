import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A terminal for screen tests: a detached tmux session, on a tmux server of its own, running one command. Keys go in with
/// send-keys, touches as xterm (X10) mouse presses at a label's place, the screen comes back with
/// capture-pane.
public final class TmuxTerminal: @unchecked Sendable {
    public let session: String
    private let tmux: String

    public init(command: [String], columns: Int = 100, rows: Int = 32, environment: [String: String] = [:]) throws {
        tmux = try TestSupport.tool("tmux")
        session = "kiosk-test-\(UUID().uuidString.prefix(8))"
        let exports = environment.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        let quoted = command.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        // posix_spawn and waitpid, not Foundation's Process: the tmux client forks the server and
        // exits, and Process neither sees that exit here nor lets go of the output pipes the server keeps.
        let arguments = [tmux, "-L", session, "new-session", "-d", "-s", session, "-x", String(columns), "-y", String(rows),
                         "env \(exports) TERM=screen LANG=C.UTF-8 \(quoted); sleep 600"]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, tmux, &actions, nil, argv, environ) == 0 else { throw XCTSkip("cannot start tmux") }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        guard status == 0 else { throw XCTSkip("tmux could not start a session here") }
    }

    /// The shell running the command in the pane: the command is its child.
    public var panePID: Int32? {
        let out = (try? TestSupport.run(tmux, ["-L", session, "display-message", "-p", "-t", session, "#{pane_pid}"], check: false).stdoutText) ?? ""
        return Int32(out.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The processes the pane's command started whose executable is `path` (the program under test).
    public func processes(running path: String) -> [Int32] {
        guard let pane = panePID else { return [] }
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let running = TestSupport.descendants(of: pane).filter { TestSupport.executable(of: $0) == target }
        // The program's own children (its sandboxed helpers run the same binary) are not counted.
        return running.filter { !running.contains(TmuxTerminal.parent(of: $0)) }
    }

    private static func parent(of pid: Int32) -> Int32 {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("PPid:") }
        return line.flatMap { Int32($0.dropFirst(5).trimmingCharacters(in: .whitespaces)) } ?? 0
    }

    public var screen: String { (try? TestSupport.run(tmux, ["-L", session, "capture-pane", "-p", "-t", session], check: false).stdoutText) ?? "" }

    /// Types text as a keyboard or a barcode scanner does.
    public func type(_ text: String) { _ = try? TestSupport.run(tmux, ["-L", session, "send-keys", "-t", session, "-l", text], check: false) }

    public func press(_ key: String) { _ = try? TestSupport.run(tmux, ["-L", session, "send-keys", "-t", session, key], check: false) }

    /// Touches the first place on screen where `label` is written.
    @discardableResult
    public func touch(_ label: String) -> Bool {
        let lines = screen.split(separator: "\n", omittingEmptySubsequences: false)
        guard let row = lines.firstIndex(where: { $0.contains(label) }),
              let range = lines[row].range(of: label) else { return false }
        let column = lines[row].distance(from: lines[row].startIndex, to: range.lowerBound) + label.count / 2
        // X10 mouse reports: button 1 pressed, then released (a touch screen sends both).
        let place = String(UnicodeScalar(UInt8(33 + column))) + String(UnicodeScalar(UInt8(33 + row)))
        type("\u{1B}[M " + place + "\u{1B}[M#" + place)
        return true
    }

    public func resize(columns: Int, rows: Int) {
        _ = try? TestSupport.run(tmux, ["-L", session, "resize-window", "-t", session, "-x", String(columns), "-y", String(rows)], check: false)
    }

    /// Waits until the screen shows `text`.
    @discardableResult
    public func wait(for text: String, seconds: Double = 20) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if screen.contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return screen.contains(text)
    }

    /// Closes the terminal under the program (like a window closed or a tty hung up).
    public func close() { _ = try? TestSupport.run(tmux, ["-L", session, "kill-server"], check: false) }

    deinit { close() }
}
