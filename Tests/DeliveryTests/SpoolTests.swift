import Foundation
import Crypto
import GRDB
import TestSupport
import XCTest
@testable import Delivery

/// The spool on a real file system and SQLite database: queueing, claiming, results, a restart
/// after a crash, backoff, operator retry and the idempotency of a SOP Instance UID.
final class SpoolTests: XCTestCase {
    private let destination = "dicom://PACS@127.0.0.1:104"

    private func row(_ sop: String) -> AdmittedInstance {
        AdmittedInstance(sopInstanceUID: sop, sopClassUID: "1.2.840.10008.5.1.4.1.1.2", transferSyntaxUID: "1.2.840.10008.1.2.1",
                         studyInstanceUID: "1.2.3", seriesInstanceUID: "1.2.3.4", sessionID: "s1")
    }

    private func spooled(_ sop: String) -> SpooledInstance {
        SpooledInstance(destination: destination, sopInstanceUID: sop, sopClassUID: "1.2.840.10008.5.1.4.1.1.2",
                        transferSyntaxUID: "1.2.840.10008.1.2.1", studyInstanceUID: "1.2.3", sessionID: "s1")
    }

    private func queue(_ spool: Spool, _ sop: String, _ bytes: [UInt8], destination: String? = nil) throws -> SinkOutcome {
        let sink = spool.sink(destination: destination ?? self.destination)
        let staged = try sink.stage(row(sop)) { write in try bytes.withUnsafeBytes { try write($0) } }
        return try XCTUnwrap(sink.commit([staged]).first)
    }

    func testQueuedInstancesAreClaimedOnceAndSurviveACrashWhileSending() throws {
        let dir = try TestSupport.TemporaryDirectory("spool")
        var spool: Spool? = try Spool(directory: dir.url)
        XCTAssertEqual(try queue(spool!, "1.2.3.1", [1, 2, 3]), .queued)
        XCTAssertEqual(try queue(spool!, "1.2.3.2", [4, 5]), .queued)
        let claimed = try spool!.claim(destination: destination, limit: 10)
        XCTAssertEqual(claimed.map(\.sopInstanceUID), ["1.2.3.1", "1.2.3.2"])
        XCTAssertEqual(claimed.map(\.attempts), [1, 1])
        XCTAssertTrue(try spool!.claim(destination: destination, limit: 10).isEmpty, "claimed instances are not handed out twice")
        XCTAssertEqual(try Data(contentsOf: dir.url.appendingPathComponent(claimed[0].path)), Data([1, 2, 3]))

        // A second process opening the spool while this one sends leaves its claims alone.
        XCTAssertEqual(try Spool(directory: dir.url).instances().map(\.state), [.sending, .sending])
        // The agent dies while both are `sending` (its PID no longer exists): on the next start
        // they are pending and due.
        spool = nil
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let database = try DatabaseQueue(path: dir.path("spool.sqlite"))
        try database.write { try $0.execute(sql: "UPDATE spooled SET claimedBy = ?", arguments: [gone.processIdentifier]) }
        spool = try Spool(directory: dir.url)
        XCTAssertEqual(try spool!.instances().map(\.state), [.pending, .pending])
        let again = try spool!.claim(destination: destination, limit: 10)
        XCTAssertEqual(again.map(\.attempts), [2, 2])
        try spool!.record([(again[0], .stored(detail: nil)), (again[1], .failed(code: "delivery.refused", reason: "0xC000"))])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.url.appendingPathComponent(again[0].path).path),
                       "a stored instance's file leaves the spool")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.url.appendingPathComponent(again[1].path).path),
                      "a failed one stays for spool retry")
        XCTAssertEqual(try spool!.destinationsWithWork(), [destination])
        XCTAssertEqual(try spool!.retryNow(), 1)
        XCTAssertEqual(try spool!.claim(destination: destination, limit: 10).map(\.sopInstanceUID), ["1.2.3.2"])
    }

    func testARetryLeavesStudiesHeldForReviewAlone() throws {
        let dir = try TestSupport.TemporaryDirectory("spool-held")
        let spool = try Spool(directory: dir.url)
        let sink = spool.sink(destination: destination, held: true)
        let held = try sink.stage(row("1.2.3.9")) { write in try [9, 9].withUnsafeBytes { try write($0) } }
        XCTAssertEqual(try sink.commit([held]), [.queued])
        XCTAssertEqual(try queue(spool, "1.2.3.10", [1]), .queued)
        XCTAssertEqual(try spool.retryNow(), 1, "only the instance not waiting for the operator's Send")
        XCTAssertEqual(try spool.claim(destination: destination, limit: 10).map(\.sopInstanceUID), ["1.2.3.10"])
        try spool.release(session: "s1", destination: destination)
        XCTAssertEqual(try spool.claim(destination: destination, limit: 10).map(\.sopInstanceUID), ["1.2.3.9"])
    }

    func testRetriesBackOffExponentiallyWithJitter() throws {
        let backoff = Spool.Backoff(base: 2, maximum: 60)
        for attempt in 1...10 {
            let ceiling = min(60, 2 * pow(2, Double(attempt - 1)))
            let delay = backoff.delay(afterAttempt: attempt)
            XCTAssertTrue((ceiling / 2...ceiling).contains(delay), "attempt \(attempt): \(delay)")
        }
        let dir = try TestSupport.TemporaryDirectory("spool-backoff")
        let spool = try Spool(directory: dir.url, backoff: backoff)
        _ = try queue(spool, "1.2.3.1", [1])
        let now = Date()
        let claimed = try spool.claim(destination: destination, limit: 1, now: now)
        try spool.record([(claimed[0], .retry("connection refused"))], now: now)
        XCTAssertTrue(try spool.claim(destination: destination, limit: 1, now: now).isEmpty, "not due before its backoff")
        let due = try XCTUnwrap(spool.nextDue(destination: destination))
        XCTAssertTrue((1...2).contains(due.timeIntervalSince(now)), "\(due.timeIntervalSince(now))")
        XCTAssertEqual(try spool.claim(destination: destination, limit: 1, now: now.addingTimeInterval(3)).count, 1)
        XCTAssertEqual(try spool.instances().first?.lastError, "connection refused")
    }

    func testASOPInstanceUIDIsSentOncePerDestination() throws {
        let dir = try TestSupport.TemporaryDirectory("spool-idempotent")
        let spool = try Spool(directory: dir.url)
        XCTAssertEqual(try queue(spool, "1.2.3.1", [1, 2]), .queued)
        // Queued again before it was sent (the disc re-inserted): still one row, the newer copy.
        XCTAssertEqual(try queue(spool, "1.2.3.1", [1, 2]), .queued)
        XCTAssertEqual(try spool.instances().count, 1)
        let claimed = try spool.claim(destination: destination, limit: 5)
        try spool.record(claimed.map { ($0, .stored(detail: nil)) })
        XCTAssertEqual(try queue(spool, "1.2.3.1", [1, 2]), .alreadyPresent)
        XCTAssertEqual(try queue(spool, "1.2.3.1", [9, 9]), .conflict(existingSHA256: SHA256.hash(data: [1, 2]).map { String(format: "%02x", $0) }.joined()), "different content under a delivered UID is not sent")
        // Another destination is another delivery.
        XCTAssertEqual(try queue(spool, "1.2.3.1", [1, 2], destination: "dicomweb+http://127.0.0.1:8042/dicom-web"), .queued)
        XCTAssertEqual(try spool.instances(states: [.pending]).map(\.destination), ["dicomweb+http://127.0.0.1:8042/dicom-web"])
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: dir.path("incoming")).isEmpty, "nothing left staged")
    }

    func testInstancesOfManySOPClassesGoInGroupsOfAtMost128Contexts() {
        // 100 SOP classes, each compressed (2 contexts: its own syntax alone, and the uncompressed pair).
        let instances = (1...100).map { index -> SpooledInstance in
            var instance = spooled("1.2.3.\(index)")
            instance.sopClassUID = "1.2.840.10008.5.1.4.1.1.\(index)"
            instance.transferSyntaxUID = "1.2.840.10008.1.2.4.70"
            return instance
        }
        let groups = DICOMSender.groups(instances)
        XCTAssertEqual(groups.map(\.count), [64, 36])
        XCTAssertTrue(groups.allSatisfy { DICOMSender.contexts(for: $0).count <= 128 })
        XCTAssertEqual(Set(groups.flatMap { $0 }.map(\.sopInstanceUID)).count, 100)
    }

    func testDiskRoomComparesFreeSpaceWithWhatTheDiscNeeds() throws {
        let dir = try TestSupport.TemporaryDirectory("spool-room")
        let room = try DiskRoom.check(dir.url, estimate: 1 << 20, reserve: 0)
        XCTAssertTrue(room.isEnough, room.description)
        XCTAssertFalse(try DiskRoom.check(dir.url, estimate: Int64.max / 4, reserve: 0).isEnough)
    }

    func testSTOWResponsesGiveEachInstanceItsResult() throws {
        let instances = ["1.1", "1.2", "1.3", "1.4"].map { spooled($0) }
        // PS3.18 §10.5.3: 202 with a Referenced SOP Sequence (one with a warning) and a Failed SOP Sequence.
        let body = """
            {"00081199": {"vr": "SQ", "Value": [
                {"00081155": {"vr": "UI", "Value": ["1.1"]}},
                {"00081155": {"vr": "UI", "Value": ["1.2"]}, "00081196": {"vr": "US", "Value": [45056]}}]},
             "00081198": {"vr": "SQ", "Value": [
                {"00081155": {"vr": "UI", "Value": ["1.3"]}, "00081197": {"vr": "US", "Value": [290]}}]}}
            """
        let results = STOWResponse.results(status: 202, reason: "Accepted", body: Data(body.utf8), batch: instances)
        XCTAssertEqual(results.map(\.1), [
            .stored(detail: nil),
            .stored(detail: "warning 0xB000 warning: coercion of data elements"),
            .failed(code: "delivery.refused", reason: "the server answered 0x0122 SOP class not supported"),
            .retry("HTTP 202: the response does not mention this instance"),
        ])
        XCTAssertTrue(STOWResponse.results(status: 503, reason: "Busy", body: Data(), batch: instances).allSatisfy {
            if case .retry = $0.1 { true } else { false }
        })
        XCTAssertEqual(STOWSender.batches(instances.map { var r = $0; r.size = 10; return r }, maxBytes: 25).map(\.count), [2, 2])
    }
}
