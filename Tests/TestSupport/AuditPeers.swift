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
        tlsPort = fixed ?? Int.random(in: 20_000...40_000)
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
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
        self.process = process
        try Peers.wait("rsyslogd", log: log, process: process, seconds: 20) { Peers.tcpConnects(UInt16(tlsPort)) }
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
