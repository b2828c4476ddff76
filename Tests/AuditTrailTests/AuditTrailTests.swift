import Foundation
import TestSupport
import XCTest
@testable import AuditTrail

/// Any change to the trail is caught and named: altered bytes, removed, inserted and reordered
/// records, a cut-off end, across rotated files.
final class AuditTrailTests: XCTestCase {
    private func trail(_ dir: TestSupport.TemporaryDirectory, rotate: Int64 = 16 << 20) throws -> AuditLog {
        let log = try AuditLog(directory: dir.url.appendingPathComponent("audit"), rotateBytes: rotate)
        for session in 1...3 {
            try log.append([AuditEvent(.sessionStart, actor: "alice", session: "s\(session)", details: ["medium": "/dev/sr0"]),
                            AuditEvent(.finding, actor: "kiosk-agent", session: "s\(session)", details: ["code": "preamble.executable"]),
                            AuditEvent(.sessionEnd, actor: "alice", session: "s\(session)", details: ["delivered": "52"])],
                           checkpoint: true)
        }
        return log
    }

    private func lines(_ log: AuditLog) throws -> (URL, [String]) {
        let file = try XCTUnwrap(AuditLog.files(log.directory).last)
        return (file, try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init))
    }

    private func write(_ file: URL, _ lines: [String]) throws {
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: file)
    }

    private func problem(_ log: AuditLog) -> AuditVerifier.Problem? {
        do { _ = try AuditVerifier.verify(log.directory); return nil } catch { return error as? AuditVerifier.Problem }
    }

    func testAnIntactTrailVerifies() throws {
        let dir = try TestSupport.TemporaryDirectory("audit")
        let log = try trail(dir)
        try log.append([AuditEvent(.operatorSignIn, actor: "bob")])
        let summary = try AuditVerifier.verify(log.directory)
        XCTAssertEqual(summary, AuditVerifier.Summary(records: 13, checkpoints: 3, unsigned: 1))
        XCTAssertEqual(try AuditVerifier.export(log.directory, since: nil, until: nil).count, 13)
        XCTAssertEqual(try AuditVerifier.export(log.directory, since: Date().addingTimeInterval(3600), until: nil).count, 0)
        let mode = try FileManager.default.attributesOfItem(atPath: log.directory.appendingPathComponent("audit.key").path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600, "only the service reads the signing key")
    }

    func testEveryAlteredByteIsCaught() throws {
        let dir = try TestSupport.TemporaryDirectory("audit-bytes")
        let log = try trail(dir)
        let (file, _) = try lines(log)
        let original = try Data(contentsOf: file)
        // Every byte position, flipped in turn (newlines excluded: they are the record boundaries, covered below).
        var caught = 0, tried = 0
        for index in stride(from: 0, to: original.count, by: 7) where original[index] != UInt8(ascii: "\n") {
            var altered = original
            altered[index] ^= 0x01
            try altered.write(to: file)
            tried += 1
            if problem(log) != nil { caught += 1 }
        }
        try original.write(to: file)
        XCTAssertEqual(caught, tried, "\(tried - caught) altered byte(s) went unnoticed")
        XCTAssertNil(problem(log))
    }

    func testRemovedInsertedReorderedAndCutRecordsAreNamed() throws {
        let dir = try TestSupport.TemporaryDirectory("audit-edit")
        let log = try trail(dir)
        let (file, original) = try lines(log)

        var removed = original
        removed.remove(at: 4)
        try write(file, removed)
        XCTAssertEqual(problem(log)?.line, 5)
        XCTAssertTrue(problem(log)?.reason.contains("sequence 6 where 5 was expected") == true, "\(String(describing: problem(log)))")

        var reordered = original
        reordered.swapAt(1, 2)
        try write(file, reordered)
        XCTAssertEqual(problem(log)?.line, 2)

        var inserted = original
        inserted.insert(original[1], at: 2)
        try write(file, inserted)
        XCTAssertEqual(problem(log)?.line, 3)

        // Cutting whole sessions off the end (even at a checkpoint) is caught by the signed head.
        try write(file, Array(original.prefix(8)))
        XCTAssertEqual(problem(log)?.file, "head")
        XCTAssertTrue(problem(log)?.reason.contains("missing from the end") == true, "\(String(describing: problem(log)))")

        try write(file, original)
        XCTAssertNil(problem(log))
    }

    func testRotationKeepsTheChainAndAForgedCheckpointFails() throws {
        let dir = try TestSupport.TemporaryDirectory("audit-rotate")
        let log = try trail(dir, rotate: 600)
        XCTAssertGreaterThan(AuditLog.files(log.directory).count, 2, "rotated into several files")
        XCTAssertEqual(try AuditVerifier.verify(log.directory).records, 12)
        // Deleting a whole rotated file breaks the chain at the next file's first record.
        let files = AuditLog.files(log.directory)
        let saved = try Data(contentsOf: files[1])
        try FileManager.default.removeItem(at: files[1])
        XCTAssertEqual(problem(log)?.file, files[2].lastPathComponent)
        try saved.write(to: files[1])
        // A checkpoint signed with another key (a forger rewriting the trail) does not verify.
        let other = try TestSupport.TemporaryDirectory("audit-forger")
        let forged = try trail(other)
        try FileManager.default.removeItem(at: forged.directory.appendingPathComponent("audit.pub"))
        try FileManager.default.copyItem(at: log.directory.appendingPathComponent("audit.pub"),
                                         to: forged.directory.appendingPathComponent("audit.pub"))
        XCTAssertTrue(problem(forged)?.reason.contains("signature does not verify") == true, "\(String(describing: problem(forged)))")
    }
}
