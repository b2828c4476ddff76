import DICOMCore
import Foundation
import HelperProtocol
import Protector
import Scanner
import TestSupport
import XCTest

/// The scanner process (`kiosk-agent scanner`), proved from outside like the media helper: it
/// misbehaves the way an engine exploited by the content it scans would
/// (`KIOSK_AGENT_SCANNER_FAULT=<action>@<marker>`, debug builds) and the tests check that the agent
/// went on, that the scan failed closed, that a new scanner took the next requests, and what the
/// sandbox kept it from doing.
final class ScannerTests: XCTestCase {
    static let eicar = Array(("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").utf8)
    static let marker = "KIOSK-SCANNER-FAULT-MARKER"

    override func setUpWithError() throws {
        let binary = TestSupport.productsDirectory.appendingPathComponent("kiosk-agent").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("kiosk-agent binary not built at \(binary)") }
        ScannerClient.executable = binary
    }

    override func tearDown() {
        unsetenv("KIOSK_AGENT_SCANNER_FAULT")
    }

    private func client(fault: String? = nil) throws -> ScannerClient { try ScannerTests.client(fault: fault) }

    private static func client(fault: String? = nil, signatures: String? = nil) throws -> ScannerClient {
        if let fault { setenv("KIOSK_AGENT_SCANNER_FAULT", "\(fault)@\(ScannerTests.marker)", 1) } else { unsetenv("KIOSK_AGENT_SCANNER_FAULT") }
        let signatures = signatures ?? TestSupport.packageRoot.appendingPathComponent("signatures").path
        let clamav = ScannerJob.ClamAV(signatures: [signatures], maxFileSize: 64 << 20,
                                       maxScanSize: 256 << 20, maxRecursion: 16, maxScanTimeMilliseconds: 30_000)
        return try ScannerClient(job: ScannerJob(clamav: clamav, clamdSocket: nil, icap: nil, timeoutSeconds: 30))
    }

    private func scan(_ client: ScannerClient, _ bytes: [UInt8]) -> Result<[String], any Error> {
        Result { try client.engines[0].scan(ScanContent(bytes, label: "a part")) }
    }

    private var markerBytes: [UInt8] { [UInt8](repeating: 0x20, count: 100) + Array(ScannerTests.marker.utf8) }

    /// A part crosses to the scanner once, in a sealed memfd; the answer comes back per engine.
    func testTheScannerFindsWhatLibclamavFinds() throws {
        let scanner = try client()
        XCTAssertEqual(scanner.names, ["clamav"])
        XCTAssertEqual(try scan(scanner, [UInt8](repeating: 0x41, count: 4096) + ScannerTests.eicar).get(), ["Kiosk.Test.EICAR.UNOFFICIAL"])
        XCTAssertEqual(try scan(scanner, [UInt8](repeating: 0x41, count: 4096)).get(), [])
        XCTAssertEqual(try scan(scanner, []).get(), [])
        // A range of a medium handed over once: only offsets cross.
        let dir = try TestSupport.TemporaryDirectory("scanner-medium")
        let image = dir.path("medium.img")
        try Data([UInt8](repeating: 0x20, count: 4096) + ScannerTests.eicar + [UInt8](repeating: 0, count: 4096)).write(to: URL(fileURLWithPath: image))
        let fd = open(image, O_RDONLY)
        defer { close(fd) }
        let token = scanner.register(medium: fd, size: Int64(8192 + ScannerTests.eicar.count))
        XCTAssertEqual(scanner.scan(.medium(token: token, offset: 4096, count: Int64(ScannerTests.eicar.count)), descriptor: nil,
                                    label: "pixel data", engines: [0]), [EngineOutcome(names: ["Kiosk.Test.EICAR.UNOFFICIAL"])])
        XCTAssertEqual(scanner.scan(.medium(token: token, offset: 0, count: 4096), descriptor: nil, label: "x", engines: [0]),
                       [EngineOutcome(names: [])])
        XCTAssertNotNil(scanner.scan(.medium(token: token, offset: 8000, count: 4096), descriptor: nil, label: "x", engines: [0])[0].error)
        scanner.forget(medium: token)
        XCTAssertEqual(scanner.starts, 1)
    }

    /// A child's parent-death signal follows the thread that spawned it: one started from a thread
    /// that then ends (as Dispatch's idle threads do) must live on.
    func testAScannerOutlivesTheThreadThatStartedIt() throws {
        let started = NSCondition()
        nonisolated(unsafe) var made: Result<ScannerClient, any Error>?
        let thread = Thread {
            let result = Result { try ScannerTests.client() }
            started.withLock { made = result; started.signal() }
        }
        thread.start()
        let scanner = try started.withLock {
            while made == nil { started.wait() }
            return made!
        }.get()
        // The thread has ended by now; give a parent-death signal time to arrive.
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(try scan(scanner, ScannerTests.eicar).get(), ["Kiosk.Test.EICAR.UNOFFICIAL"])
        XCTAssertEqual(scanner.starts, 1)
    }

    /// A crash while scanning hostile content: that scan has no verdict (the file is rejected), the
    /// agent goes on, and the next request is scanned by a new scanner.
    func testACrashedScannerFailsItsScanClosedAndIsRestarted() throws {
        let scanner = try client(fault: "crash")
        let crashed = scan(scanner, markerBytes)
        guard case let .failure(error) = crashed else { return XCTFail("the crashing scan gave \(crashed)") }
        XCTAssertTrue("\(error)".contains("crashed"), "\(error)")
        XCTAssertEqual(try scan(scanner, ScannerTests.eicar).get(), ["Kiosk.Test.EICAR.UNOFFICIAL"])
        XCTAssertEqual(scanner.starts, 2)

        // Through the Protector: the file is rejected with malware.engine-failure.
        let protector = Protector(policy: ProtectorPolicy(implementationClassUID: "2.25.1", implementationVersionName: "KIOSK_TEST"), engines: scanner.engines)
        let file = try DICOMFiles.ct(privateValue: markerBytes)
        let protection = protector.protect(InMemoryByteSource(file))
        XCTAssertEqual(protection.verdict, .rejected)
        XCTAssertTrue(protection.findings.contains { $0.code == .malwareEngineFailure }, "\(protection.findings)")
        let clean = protector.protect(InMemoryByteSource(try DICOMFiles.ct(privateValue: [UInt8](repeating: 0x41, count: 64))))
        XCTAssertNotEqual(clean.verdict, .rejected, "\(clean.findings)")
        XCTAssertFalse(clean.findings.contains { $0.code == .malwareEngineFailure })
        XCTAssertEqual(scanner.starts, 3)
    }

    /// A scanner that cannot be started again (its databases are gone) is not tried for every part:
    /// requests fail closed at once until the back-off has passed.
    func testAScannerThatCannotStartIsNotRetriedForEveryPart() throws {
        let dir = try TestSupport.TemporaryDirectory("scanner-backoff")
        let signatures = dir.path("signatures")
        try FileManager.default.copyItem(at: TestSupport.packageRoot.appendingPathComponent("signatures"), to: URL(fileURLWithPath: signatures))
        let scanner = try ScannerTests.client(fault: "crash", signatures: signatures)
        guard case .failure = scan(scanner, markerBytes) else { return XCTFail("the crashing scan answered") }
        try FileManager.default.removeItem(atPath: signatures)
        for _ in 0..<3 {
            guard case let .failure(error) = scan(scanner, ScannerTests.eicar) else { return XCTFail("a scan without a scanner answered") }
            XCTAssertTrue("\(error)".contains("could not be started"), "\(error)")
        }
        XCTAssertEqual(scanner.starts, 1)
        XCTAssertEqual(scanner.failedStarts, 1, "one attempt, then the back-off")
    }

    /// A scanner that hangs is killed at the request's deadline; the next request gets a new one.
    func testAHungScannerIsKilledAtTheDeadline() throws {
        let scanner = try client(fault: "hang")
        scanner.deadline = 3
        let started = Date()
        guard case let .failure(error) = scan(scanner, markerBytes) else { return XCTFail("the hanging scan answered") }
        XCTAssertTrue("\(error)".contains("no answer within 3 s"), "\(error)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        XCTAssertEqual(try scan(scanner, ScannerTests.eicar).get(), ["Kiosk.Test.EICAR.UNOFFICIAL"])
        XCTAssertEqual(scanner.starts, 2)
    }

    /// The sandbox is in force: nothing written outside its scratch, nothing read of the agent's
    /// (the archive), no programs.
    func testTheScannerCannotWriteOutsideItsScratchNorReadTheArchive() throws {
        let dir = try TestSupport.TemporaryDirectory("scanner-sandbox")
        let outside = dir.path("written-by-scanner")
        let writing = try client(fault: "write:\(outside)")
        let written = try scan(writing, markerBytes).get()
        XCTAssertEqual(written.count, 1)
        XCTAssertTrue(written[0].contains("refused (errno 13)"), "\(written)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: outside))

        try FileManager.default.createDirectory(atPath: dir.path("state/archive"), withIntermediateDirectories: true)
        try Data("index".utf8).write(to: URL(fileURLWithPath: dir.path("state/archive/index.sqlite")))
        let reading = try client(fault: "read:\(dir.path("state/archive/index.sqlite"))")
        let read = try scan(reading, markerBytes).get()
        XCTAssertTrue(read.first?.contains("refused (errno 13)") ?? false, "\(read)")

        let executing = try client(fault: "exec")
        guard case let .failure(error) = scan(executing, markerBytes) else { return XCTFail("exec was allowed") }
        XCTAssertTrue("\(error)".contains("SIGSYS"), "\(error)")
        XCTAssertEqual(try scan(executing, [1, 2, 3]).get(), [])
    }

    /// End to end: the agent ingests a disc whose first file crashes the scanner; the agent finishes
    /// the session, that file is rejected with malware.engine-failure, and files after it are
    /// scanned by a restarted scanner and delivered.
    func testAnIngestGoesOnAfterTheScannerCrashes() throws {
        let dir = try TestSupport.TemporaryDirectory("scanner-ingest")
        let tree = try IngestFixtures.makeTree(in: dir, withDICOMDIR: false)
        try DICOMFiles.writeCT(privateValue: markerBytes, to: tree.root.appendingPathComponent("DICOM/AAAFAULT").path)
        let disc = try IngestFixtures.iso(tree, in: dir)
        let result = try IngestFixtures.agent(["ingest", disc, "--state-dir", dir.path("state"), "--report", dir.path("report.json")],
                                              environment: ["KIOSK_AGENT_SCANNER_FAULT": "crash@\(ScannerTests.marker)"])
        XCTAssertTrue(result.status >= 0 && result.status < 64, "the agent finished its session: exit \(result.status): \(result.stderrText)")
        let report = try IngestFixtures.report(dir.path("report.json"))
        let files = DestinationTests.files(report)
        let faulty = try XCTUnwrap(files.first { ($0["path"] as? String)?.hasSuffix("AAAFAULT") == true })
        XCTAssertEqual(faulty["verdict"] as? String, "rejected")
        let codes = (faulty["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
        XCTAssertTrue(codes.contains("malware.engine-failure"), "\(codes)")
        let delivered = (report["totals"] as? [String: Any])?["delivered"] as? Int ?? 0
        XCTAssertGreaterThanOrEqual(delivered, 3, "files after the crash are scanned by a new scanner: \(result.stderrText)")
    }
}

/// One request per content for every engine behind a channel (the helper's pipe, the scanner).
final class JointScanTests: XCTestCase {
    final class Channel: @unchecked Sendable {
        let lock = NSLock()
        var asked: [[Int]] = []
    }

    struct Counting: JointEngine {
        let name: String
        let index: Int
        let box: Channel
        var channel: ObjectIdentifier { ObjectIdentifier(box) }

        func scan(_ content: ScanContent, engines: [Int]) -> [Result<[String], any Error>] {
            box.lock.withLock { box.asked.append(engines) }
            return engines.map { _ in .success([]) }
        }
    }

    func testAContentIsAskedOnceForEveryEngineOfAChannel() throws {
        let box = Channel()
        let protector = Protector(policy: ProtectorPolicy(implementationClassUID: "2.25.1", implementationVersionName: "KIOSK_TEST"),
                                  engines: [Counting(name: "clamav", index: 0, box: box), Counting(name: "clamd", index: 1, box: box)])
        let file = try DICOMFiles.ct(privateValue: [UInt8](repeating: 0x41, count: 64))
        let protection = protector.protect(InMemoryByteSource(file))
        XCTAssertNotEqual(protection.verdict, .rejected, "\(protection.findings)")
        XCTAssertFalse(box.asked.isEmpty)
        XCTAssertTrue(box.asked.allSatisfy { $0 == [0, 1] }, "\(box.asked)")
    }

    func testTheJointFieldsRoundTripAndStayOptional() throws {
        let scan = HelperScan(id: 3, engine: 0, label: "x", count: 9, medium: 2048, engines: [0, 2])
        XCTAssertEqual(try Frame(kind: .scan, payload: scan.compact).decode(HelperScan.self).engines, [0, 2])
        XCTAssertNil(try Frame(kind: .scan, payload: HelperScan(id: 3, engine: 1, label: "x", count: 9).compact).decode(HelperScan.self).engines)
        let outcomes = [EngineOutcome(names: ["A"]), EngineOutcome(error: "down")]
        let result = HelperScanResult(id: 3, outcomes: outcomes)
        XCTAssertEqual(try Frame(kind: .scanResult, payload: result.compact).decode(HelperScanResult.self).outcomes, outcomes)
        var bytes: [UInt8] = []
        ScannerRequest(id: 5, engines: [0, 1], label: "pixel data", body: .medium(token: 2, offset: 4096, count: 10)).write(to: &bytes)
        var reader = CompactReader(bytes)
        XCTAssertEqual(try ScannerRequest(reading: &reader).body, .medium(token: 2, offset: 4096, count: 10))
    }
}

/// A CT file (pydicom's CT_small.dcm) with a private value of our choosing.
enum DICOMFiles {
    static func writeCT(privateValue: [UInt8], to path: String) throws {
        try TestSupport.python("""
            import sys, pydicom
            ds = pydicom.dcmread(sys.argv[1])
            ds.add_new(0x00290010, "LO", "ACME 1.0")
            ds.add_new(0x00291001, "OB", bytes.fromhex(sys.argv[3]))
            ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
            ds.save_as(sys.argv[2], enforce_file_format=True)
            """, [try TestSupport.pydicomTestFiles().appendingPathComponent("CT_small.dcm").path, path,
                  privateValue.map { String(format: "%02x", $0) }.joined()])
    }

    static func ct(privateValue: [UInt8]) throws -> [UInt8] {
        let dir = try TestSupport.TemporaryDirectory("scanner-ct")
        let path = dir.path("ct.dcm")
        try writeCT(privateValue: privateValue, to: path)
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
