import Foundation
import TestSupport
import XCTest
@testable import Protector

/// A real ICAP gateway: c-icap with its virus_scan service (Debian's c-icap and
/// libc-icap-mod-virus-scan) on 127.0.0.1, scanning through a clamd that the test also starts,
/// both loaded with the project's signature set.
final class ICAPClientTests: XCTestCase {
    private func start(_ executable: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    private func wait(_ what: String, _ log: String, _ ready: () -> Bool) throws {
        let started = Date()
        while !ready() {
            guard Date().timeIntervalSince(started) < 60 else {
                throw XCTSkip("\(what) did not come up: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    func testRespmodVerdicts() throws {
        let clamd = try TestSupport.tool("clamd"), icap = try TestSupport.tool("c-icap")
        let modules = "/usr/lib/x86_64-linux-gnu/c_icap"
        guard FileManager.default.fileExists(atPath: modules + "/virus_scan.so") else {
            throw XCTSkip("libc-icap-mod-virus-scan is not installed: run scripts/install-deps")
        }
        let dir = try TestSupport.TemporaryDirectory("icap")
        let d = dir.url.path
        try FileManager.default.createDirectory(atPath: d + "/db", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestSupport.packageRoot.appendingPathComponent("signatures/kiosk-agent.ndb").path,
                                         toPath: d + "/db/kiosk-agent.ndb")
        try "LocalSocket \(d)/clamd.sock\nDatabaseDirectory \(d)/db\nTemporaryDirectory \(d)\nLogFile \(d)/clamd.log\nForeground yes\n"
            .write(toFile: d + "/clamd.conf", atomically: true, encoding: .utf8)
        let daemon = try start(clamd, ["-c", d + "/clamd.conf"])
        defer { daemon.terminate(); daemon.waitUntilExit() }
        try wait("clamd", d + "/clamd.log") { (try? ClamdClient(socketPath: d + "/clamd.sock").scan([0], name: "probe")) != nil }

        let port = UInt16.random(in: 20_000...40_000)
        try """
            PidFile \(d)/c-icap.pid
            CommandsSocket \(d)/c-icap.ctl
            Port 127.0.0.1:\(port)
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
            clamd_mod.ClamdSocket \(d)/clamd.sock
            Service antivirus_module virus_scan.so
            ServiceAlias avscan virus_scan?allow204=on&sizelimit=off&mode=simple
            virus_scan.ScanFileTypes TEXT DATA EXECUTABLE ARCHIVE GIF JPEG MSOFFICE
            virus_scan.DefaultEngine clamd
            virus_scan.MaxObjectSize 50M
            """.write(toFile: d + "/c-icap.conf", atomically: true, encoding: .utf8)
        let gateway = try start(icap, ["-N", "-f", d + "/c-icap.conf"])
        defer { gateway.terminate(); gateway.waitUntilExit() }
        let client = ICAPClient(host: "127.0.0.1", port: port, service: "avscan", timeout: 20)
        try wait("c-icap", d + "/server.log") { (try? client.scan(Array("hello".utf8), name: "probe")) != nil }

        XCTAssertEqual(try client.scan(Array("an ordinary text value".utf8), name: "clean"), [])
        let verdict = try client.scan(ClamAVEngineTests.eicar + Array(" trailing".utf8), name: "infected")
        XCTAssertEqual(verdict.count, 1)
        XCTAssertTrue(verdict.first?.contains("Kiosk.Test.EICAR") == true || verdict.first == "blocked by the ICAP gateway", "\(verdict)")
        // Nobody listening: an error, never "clean".
        XCTAssertThrowsError(try ICAPClient(host: "127.0.0.1", port: port &+ 1, service: "avscan", timeout: 2).scan([1], name: "x"))
    }

    func testVerdictParsing() throws {
        XCTAssertEqual(try ICAPClient.verdict("ICAP/1.0 204 Unmodified\r\nISTag: x"), [])
        XCTAssertEqual(try ICAPClient.verdict("ICAP/1.0 200 OK\r\nX-Infection-Found: Type=0; Resolution=2; Threat=Eicar-Test;"), ["Eicar-Test"])
        XCTAssertThrowsError(try ICAPClient.verdict("ICAP/1.0 500 Server error"))
        XCTAssertThrowsError(try ICAPClient.verdict("HTTP/1.1 200 OK"))
    }
}
