import DICOMCore
import Foundation
import SessionReport
import TestSupport
import XCTest
@testable import Protector
#if canImport(Glibc)
import Glibc
#endif

/// The Protector with several real engines at once — libclamav in-process, clamd and a c-icap
/// gateway started by the test — and fail-closed behaviour when an engine is missing or hangs.
final class EnginePipelineTests: XCTestCase {
    typealias F = ThreatFixtures

    private func infected(deferred: Bool) throws -> (bytes: [UInt8], policy: ProtectorPolicy) {
        let bytes = try F.crafted { file in
            file.dataSet.set(F.element(Tag(0x0029, 0x0010), .LO, F.text("ACME 1.0")))
            file.dataSet.set(F.element(Tag(0x0029, 0x1001), .OB, [UInt8](repeating: 0x20, count: 300_000) + F.eicar))
        }
        var policy = F.policy()
        // Values over this stay in the source and are scanned by range, in chunks.
        if deferred { policy.parsing.inlineValueLimit = 1024 }
        return (bytes, policy)
    }

    func testEveryEngineScansEveryPartAndNamesWhatItFound() throws {
        let gateway = try ICAPPeer()
        let engines: [any MalwareEngine] = [
            F.engine, ClamdClient(socketPath: gateway.clamd.socket, timeout: 20),
            ICAPClient(host: "127.0.0.1", port: gateway.port, service: gateway.service, timeout: 20),
        ]
        for deferred in [false, true] {
            let (bytes, policy) = try infected(deferred: deferred)
            let outcome = try F.protect(bytes, with: F.protector(policy, engines: engines))
            XCTAssertEqual(outcome.verdict, .disarmed, "\(outcome.protection.findings)")
            for engine in ["clamav", "clamd", "icap"] {
                XCTAssertTrue(outcome.protection.findings.contains { $0.code == .malware(engine: engine) && $0.element == "(0029,1001)" },
                              "\(engine) (deferred: \(deferred)): \(outcome.codes)")
            }
            XCTAssertFalse(outcome.delivered.contains(F.eicar))
            let part = try XCTUnwrap(outcome.protection.parts.first { $0.location == "(0029,1001)" })
            XCTAssertEqual(part.action, .removed)
            XCTAssertTrue(["clamav", "clamd", "icap"].allSatisfy(part.checks.contains), "\(part.checks)")
        }
        // A clean file stays clean through all three.
        let clean = try F.protect(try F.original("MR_small.dcm"), with: F.protector(engines: engines))
        XCTAssertNotEqual(clean.verdict, .rejected, "\(clean.protection.findings)")
        XCTAssertFalse(clean.codes.contains { $0.hasPrefix("malware.") })
    }

    func testAnEngineThatIsDownOrSilentRejectsTheFile() throws {
        let dir = try TestSupport.TemporaryDirectory("silent-engine")
        let down = ClamdClient(socketPath: dir.path("nobody.sock"), timeout: 2)
        let outcome = try F.protect(try F.original("MR_small.dcm"), with: F.protector(engines: [F.engine, down]))
        XCTAssertEqual(outcome.verdict, .rejected)
        XCTAssertTrue(outcome.codes.contains("malware.engine-failure"), "\(outcome.codes)")

        // A socket that accepts and never answers: the deadline ends the scan, and the file is rejected.
        let path = dir.path("silent.sock")
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(listener, 8), 0)
        let started = Date()
        let silent = try F.protect(try F.original("MR_small.dcm"),
                                   with: F.protector(engines: [ClamdClient(socketPath: path, timeout: 1)]))
        XCTAssertEqual(silent.verdict, .rejected)
        let failure = try XCTUnwrap(silent.protection.findings.first { $0.code == .malwareEngineFailure })
        XCTAssertTrue(failure.detail.contains("timeout"), failure.detail)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30, "one failure stops that engine for the file")
    }
}
