import Foundation
#if canImport(Glibc)
import Glibc
#endif
import XCTest

/// rsyslog (Debian's) as an ATNA audit repository on loopback: RFC 5425 TLS (gtls driver, octet
/// counting) and RFC 5426 UDP, writing every message it receives, raw, one per line.
public final class RsyslogPeer: @unchecked Sendable {
    public let directory: TestSupport.TemporaryDirectory
    public let tlsPort: Int
    public let udpPort: Int
    private var process: Process?
    private let configuration: String

    /// `certificate`/`key`: the server's PEM files, signed by the CA the agent trusts.
    /// `tlsPort`: fixed (a test that starts the repository after the agent queued its records).
    public init(certificate: String, key: String, ca: String, tlsPort fixed: Int? = nil) throws {
        _ = try TestSupport.tool("rsyslogd")
        directory = try TestSupport.TemporaryDirectory("rsyslog")
        tlsPort = fixed ?? TestSupport.freePort()
        udpPort = tlsPort + 1
        configuration = directory.path("rsyslog.conf")
        try """
            global(workDirectory="\(directory.path(""))" maxMessageSize="64k" net.enableDNS="off"
                   DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="\(ca)"
                   DefaultNetstreamDriverCertFile="\(certificate)" DefaultNetstreamDriverKeyFile="\(key)")
            module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
            input(type="imtcp" port="\(tlsPort)" address="127.0.0.1" name="tls")
            module(load="imudp")
            input(type="imudp" port="\(udpPort)" address="127.0.0.1" name="udp")
            template(name="raw" type="string" string="%inputname% %rawmsg%\\n")
            action(type="omfile" file="\(directory.path("received.log"))" template="raw" flushOnTXEnd="on" asyncWriting="off")
            """.write(toFile: configuration, atomically: true, encoding: .utf8)
        try start()
    }

    public func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestSupport.tool("rsyslogd"))
        process.arguments = ["-n", "-f", configuration, "-i", directory.path("rsyslogd.pid")]
        let log = directory.path("rsyslogd.log")
        // FileHandle(forWritingTo:) below fails with the reason if the file could not be created.
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
        self.process = process
        try Peers.wait("rsyslogd", log: log, process: process, seconds: 20) { Peers.listens(process.processIdentifier, tlsPort) }
    }

    /// Messages received so far: (input `tls` or `udp`, the raw syslog message).
    public var received: [(input: String, message: String)] {
        guard let text = try? String(contentsOfFile: directory.path("received.log"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line -> (input: String, message: String)? in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// Waits until `count` messages (of an input, if given) arrived.
    public func wait(for count: Int, input: String? = nil, seconds: Double = 15) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if received.filter({ input == nil || $0.input == input }).count >= count { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    public func stop() {
        if let process { Peers.stop(process) }
        process = nil
    }

    deinit { stop() }
}

/// CUPS (Debian's cupsd) on loopback with one queue, `receipt`, whose backend appends every job to
/// a file: a receipt printer the test can read. Its own ServerRoot, ServerBin and spool; needs root
/// (cupsd drops to `lp` for jobs, and backends must be root-owned).
public final class CUPSPeer: @unchecked Sendable {
    public let directory: TestSupport.TemporaryDirectory
    public let port: Int
    public let queue = "receipt"
    private var process: Process?

    public init() throws {
        let cupsd = try TestSupport.tool("cupsd")
        _ = try TestSupport.tool("lpadmin")
        guard getuid() == 0 else { throw XCTSkip("cupsd needs root to run its backends (this test runs as uid \(getuid()))") }
        directory = try TestSupport.TemporaryDirectory("cups")
        port = TestSupport.freePort()
        let root = directory.path("")
        let fm = FileManager.default
        for sub in ["spool", "cache", "state", "log", "out", "ppd", "bin/backend"] {
            try fm.createDirectory(atPath: directory.path(sub), withIntermediateDirectories: true)
        }
        for sub in ["filter", "daemon", "cgi-bin", "driver", "monitor", "notifier"] {
            try? fm.createSymbolicLink(atPath: directory.path("bin/\(sub)"), withDestinationPath: "/usr/lib/cups/\(sub)")
        }
        try """
            #!/bin/sh
            [ $# -eq 0 ] && { echo 'file capture "Unknown" "Capture to a file"'; exit 0; }
            out="${DEVICE_URI#capture:}"
            if [ -n "$6" ]; then cat "$6" >> "$out"; else cat >> "$out"; fi
            """.write(toFile: directory.path("bin/backend/capture"), atomically: true, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path("bin/backend/capture"))
        // cupsd runs jobs as lp: it must reach the spool and write the output.
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root)
        try fm.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory.path("out"))
        try """
            Listen 127.0.0.1:\(port)
            LogLevel warn
            WebInterface No
            DefaultAuthType None
            <Location />
              Order allow,deny
              Allow 127.0.0.1
            </Location>
            <Location /admin>
              Order allow,deny
              Allow 127.0.0.1
            </Location>
            <Policy default>
              <Limit All>
                Order deny,allow
              </Limit>
            </Policy>
            """.write(toFile: directory.path("cupsd.conf"), atomically: true, encoding: .utf8)
        try """
            ServerRoot \(root)
            ServerBin \(directory.path("bin"))
            RequestRoot \(directory.path("spool"))
            CacheDir \(directory.path("cache"))
            StateDir \(directory.path("state"))
            TempDir \(directory.path("spool"))
            AccessLog \(directory.path("log/access_log"))
            ErrorLog \(directory.path("log/error_log"))
            PageLog \(directory.path("log/page_log"))
            User lp
            Group lp
            SystemGroup root
            """.write(toFile: directory.path("cups-files.conf"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: cupsd)
        process.arguments = ["-f", "-c", directory.path("cupsd.conf"), "-s", directory.path("cups-files.conf")]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        try Peers.wait("cupsd", log: directory.path("log/error_log"), process: process, seconds: 20) { Peers.listens(process.processIdentifier, port) }
        try TestSupport.run(try TestSupport.tool("lpadmin"), ["-p", queue, "-E", "-v", "capture:\(directory.path("out/printed.txt"))"],
                            environment: environment)
    }

    /// What `lp` needs to reach this cupsd.
    public var environment: [String: String] { ["CUPS_SERVER": "127.0.0.1:\(port)"] }

    /// What was printed so far, waiting up to `seconds` for something to arrive.
    public func printed(seconds: Double = 15) -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: directory.path("out/printed.txt"), encoding: .utf8), !text.isEmpty { return text }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return ""
    }

    public func stop() {
        if let process { Peers.stop(process) }
        process = nil
    }

    deinit { stop() }
}
