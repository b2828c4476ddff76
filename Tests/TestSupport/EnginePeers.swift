import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Real anti-malware peers for tests, started on loopback in a temporary directory with the
/// project's signature set and stopped when released: clamd (clamav-daemon) on a unix socket, and
/// c-icap with its virus_scan service scanning through that clamd.
public final class ClamdPeer: @unchecked Sendable {
    public let directory: TestSupport.TemporaryDirectory
    public let socket: String
    private let process: Process

    /// `streamMaxLength` is clamd's StreamMaxLength (e.g. "1M"); the default allows 100M.
    public init(streamMaxLength: String = "100M") throws {
        let clamd = try TestSupport.tool("clamd")
        directory = try TestSupport.TemporaryDirectory("clamd")
        let d = directory.url.path
        try FileManager.default.createDirectory(atPath: d + "/db", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestSupport.packageRoot.appendingPathComponent("signatures/kiosk-agent.ndb").path,
                                         toPath: d + "/db/kiosk-agent.ndb")
        socket = d + "/clamd.sock"
        try """
            LocalSocket \(socket)
            DatabaseDirectory \(d)/db
            TemporaryDirectory \(d)
            LogFile \(d)/clamd.log
            Foreground yes
            StreamMaxLength \(streamMaxLength)
            """.write(toFile: d + "/clamd.conf", atomically: true, encoding: .utf8)
        process = try Peers.start(clamd, ["-c", d + "/clamd.conf"])
        try Peers.wait("clamd", log: d + "/clamd.log", process: process) { Peers.clamdPing(self.socket) }
    }

    /// For fault tests: stop (SIGSTOP), resume or kill the daemon itself.
    public var pid: Int32 { process.processIdentifier }

    deinit { Peers.stop(process) }
}

public final class ICAPPeer: @unchecked Sendable {
    public let clamd: ClamdPeer
    public let port: UInt16
    /// The service alias clients use: `icap://127.0.0.1:PORT/avscan`.
    public let service = "avscan"
    private let process: Process

    public init() throws {
        let icap = try TestSupport.tool("c-icap")
        let modules = "/usr/lib/x86_64-linux-gnu/c_icap"
        guard FileManager.default.fileExists(atPath: modules + "/virus_scan.so") else {
            throw XCTSkip("libc-icap-mod-virus-scan is not installed: run scripts/install-deps")
        }
        clamd = try ClamdPeer()
        let d = clamd.directory.url.path
        var chosen: UInt16 = 0
        var started: Process?
        // A random port may be taken: try a few.
        for _ in 0..<5 {
            chosen = UInt16.random(in: 20_000...40_000)
            try """
                PidFile \(d)/c-icap.pid
                CommandsSocket \(d)/c-icap.ctl
                Port 127.0.0.1:\(chosen)
                StartServers 1
                MaxServers 2
                ThreadsPerChild 4
                MinSpareThreads 1
                MaxSpareThreads 4
                TmpDir \(d)
                ModulesDir \(modules)
                ServicesDir \(modules)
                TemplateDir /usr/share/c_icap/templates/
                LoadMagicFile /etc/c-icap/c-icap.magic
                ServerLog \(d)/server.log
                AccessLog \(d)/access.log
                Module common clamd_mod.so
                clamd_mod.ClamdSocket \(clamd.socket)
                Service antivirus_module virus_scan.so
                ServiceAlias avscan virus_scan?allow204=on&sizelimit=off&mode=simple
                virus_scan.ScanFileTypes TEXT DATA EXECUTABLE ARCHIVE GIF JPEG MSOFFICE
                virus_scan.DefaultEngine clamd
                virus_scan.MaxObjectSize 100M
                """.write(toFile: d + "/c-icap.conf", atomically: true, encoding: .utf8)
            let process = try Peers.start(icap, ["-N", "-f", d + "/c-icap.conf"])
            let port = chosen
            if (try? Peers.wait("c-icap", log: d + "/server.log", process: process, seconds: 30) { Peers.listens(process.processIdentifier, Int(port)) }) != nil {
                started = process
                break
            }
            Peers.stop(process)
        }
        guard let started else { throw XCTSkip("c-icap did not come up on loopback") }
        process = started
        port = chosen
    }

    /// For fault tests: c-icap's main process (stopping it stalls every connection).
    public var pid: Int32 { process.processIdentifier }

    public var url: String { "icap://127.0.0.1:\(port)/\(service)" }

    deinit { Peers.stop(process) }
}

enum Peers {
    static func start(_ executable: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// SIGTERM, then SIGKILL after 10 s. Polls instead of `waitUntilExit`, which never returns when
    /// called off the main thread (async tests release their peers on a pool thread).
    static func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    static func wait(_ what: String, log: String, process: Process, seconds: Double = 90, _ ready: () -> Bool) throws {
        let started = Date()
        while !ready() {
            guard process.isRunning, Date().timeIntervalSince(started) < seconds else {
                // A failure, not a skip: the peer is installed, so a test that cannot start it must not pass quietly.
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                let state = process.isRunning ? "not ready after \(Int(seconds)) s" : "exited"
                throw PeerError.notReady("\(what) did not come up (\(state)): \(text.suffix(800))")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    enum PeerError: Error, CustomStringConvertible {
        case notReady(String)
        var description: String { switch self { case .notReady(let text): text } }
    }

    /// `zPING\0` → `PONG\0` once clamd has loaded its databases.
    static func clamdPing(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return false }
        let ping = Array("zPING\0".utf8)
        guard send(fd, ping, ping.count, Int32(MSG_NOSIGNAL)) == ping.count else { return false }
        var reply = [UInt8](repeating: 0, count: 16)
        let n = recv(fd, &reply, reply.count, 0)
        return n >= 4 && reply.starts(with: Array("PONG".utf8))
    }

    /// Whether `pid`, or a process it started, listens on TCP `port` on this machine: the peer
    /// that answers there is the test's own, not another program that happens to hold the port.
    /// Whether `pid` has ended and waits to be reaped (state Z in /proc/PID/stat).
    public static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    static func listens(_ pid: Int32, _ port: Int) -> Bool {
        let suffix = String(format: ":%04X", port)
        var inodes = Set<Substring>()
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = (try? String(contentsOfFile: table, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[1].hasSuffix(suffix), fields[3] == "0A" else { continue }   // 0A: LISTEN
                inodes.insert(fields[9])
            }
        }
        guard !inodes.isEmpty else { return false }
        for process in [pid] + TestSupport.descendants(of: pid) {
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process)/fd")) ?? [] {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process)/fd/\(fd)"),
                      target.hasPrefix("socket:[") else { continue }
                if inodes.contains(target.dropFirst(8).dropLast()) { return true }
            }
        }
        return false
    }
}
