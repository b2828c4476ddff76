import Foundation
import HelperProtocol
import MediaReader
import LibClamAV
import Protector
import SessionReport
import TestSupport
import XCTest
@testable import IngestPipeline
@testable import KioskAgent
@testable import KioskStation

/// The helper conversation's compact messages, the lists sent once, and scans of ranges of the
/// medium that the agent reads itself: bad input from a hostile helper is a malformed stream.
final class HelperWireTests: XCTestCase {
    private func roundTrip<T: CompactMessage & Decodable>(_ message: T, _ kind: FrameKind) throws -> T {
        try Frame(kind: kind, payload: message.compact).decode(T.self)
    }

    func testCompactMessagesRoundTrip() throws {
        let scan = try roundTrip(HelperScan(id: 7, engine: 1, label: "frame 1 — (7FE0,0010)", count: 65_536), .scan)
        XCTAssertEqual([scan.id, scan.engine], [7, 1])
        XCTAssertEqual(scan.label, "frame 1 — (7FE0,0010)")
        XCTAssertEqual(scan.count, 65_536)
        XCTAssertNil(scan.medium)
        XCTAssertEqual(try roundTrip(HelperScan(id: 8, engine: 0, label: "", count: 3, medium: 4096), .scan).medium, 4096)

        let found = try roundTrip(HelperScanResult(id: 3, names: ["Kiosk.Test.EICAR.UNOFFICIAL", ""]), .scanResult)
        XCTAssertEqual(found.names, ["Kiosk.Test.EICAR.UNOFFICIAL", ""])
        XCTAssertNil(found.error)
        let failed = try roundTrip(HelperScanResult(id: 4, names: nil, error: "engine unavailable"), .scanResult)
        XCTAssertNil(failed.names)
        XCTAssertEqual(failed.error, "engine unavailable")

        XCTAssertNil(try roundTrip(HelperEnd(), .end).error)
        XCTAssertEqual(try roundTrip(HelperEnd(error: "read error at 4096"), .end).error, "read error at 4096")
        let progress = try roundTrip(HelperProgress(index: 12, path: "/DICOM/IM0001", size: 525_312), .progress)
        XCTAssertEqual(progress.index, 12)
        XCTAssertEqual(progress.path, "/DICOM/IM0001")
        XCTAssertEqual(progress.size, 525_312)
    }

    func testEveryTruncationAndBadFieldIsMalformed() throws {
        let messages: [(FrameKind, [UInt8], any Decodable.Type)] = [
            (.scan, HelperScan(id: 1, engine: 0, label: "the whole original file", count: 9, medium: 2048).compact, HelperScan.self),
            (.scanResult, HelperScanResult(id: 1, names: ["a", "b"], error: "x").compact, HelperScanResult.self),
            (.end, HelperEnd(error: "stopped").compact, HelperEnd.self),
            (.progress, HelperProgress(index: 0, path: "/A", size: 1).compact, HelperProgress.self),
        ]
        for (kind, bytes, type) in messages {
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try Frame(kind: kind, payload: Array(bytes[..<length])).decode(type), "\(kind) cut at \(length)") {
                    guard case HelperProtocolError.malformed = $0 else { return XCTFail("\($0)") }
                }
            }
            XCTAssertThrowsError(try Frame(kind: kind, payload: bytes + [0]).decode(type), "\(kind) with a byte more")
        }
        // A text length far beyond the payload is refused before anything is allocated for it.
        var huge: [UInt8] = []
        huge.appendCompact(Int64.max)
        XCTAssertThrowsError(try Frame(kind: .end, payload: [1] + huge).decode(HelperEnd.self))
        // A flag is 0 or 1; a name count is bounded.
        XCTAssertThrowsError(try Frame(kind: .end, payload: [2]).decode(HelperEnd.self))
        var names: [UInt8] = []
        names.appendCompact(1)
        names.append(1)
        names.appendCompact(Int64(1) << 40)
        XCTAssertThrowsError(try Frame(kind: .scanResult, payload: names).decode(HelperScanResult.self))
    }

    func testRepeatedListsAreSentOnceAndNamedAfter() throws {
        let findings = [Finding(.privateRemoved, .info, "10 element(s) of private block \"GEMS_IDEN_01\" removed")]
        let parts = [PartRecord(part: "preamble", location: "preamble", size: 128, checks: ["preamble"], action: .replaced, findings: [])]
        var record = FileRecord(path: "/DICOM/IM1", size: 10, kind: .dicom, verdict: .disarmed, findings: findings)
        record.parts = parts

        let sent = RepeatedListsSent()
        let first = sent.numbers(for: record)
        XCTAssertEqual(sent.numbers(for: record).parts, first.parts, "the same list gets the same number")
        XCTAssertNotEqual(first.parts, first.findings)
        XCTAssertTrue(sent.firstSending(first.parts!))
        XCTAssertFalse(sent.firstSending(first.parts!), "a list goes out in full once")

        var received = RepeatedListsReceived()
        var carrying = HelperRecord(index: 0, record: record, body: .none)
        (carrying.partsList, carrying.findingsList) = first
        let defined = try received.resolve(carrying)
        XCTAssertEqual(defined.record.parts, parts)
        XCTAssertEqual(defined.record.findings, findings)
        XCTAssertNil(defined.partsList)
        var naming = HelperRecord(index: 1, record: FileRecord(path: "/DICOM/IM2", size: 10, kind: .dicom, verdict: .disarmed, findings: []),
                                  body: .none)
        (naming.partsList, naming.findingsList) = first
        let resolved = try received.resolve(naming).record
        XCTAssertEqual(resolved.parts, parts)
        XCTAssertEqual(resolved.findings, findings)

        // A helper naming a list it never sent breaks the stream.
        naming.partsList = 99
        XCTAssertThrowsError(try received.resolve(naming)) {
            guard case HelperProtocolError.malformed = $0 else { return XCTFail("\($0)") }
        }
    }

    /// The agent scans a range of the medium itself, with the real libclamav; a range outside the
    /// medium, or a medium scan when the medium was not kept (a USB device), is a malformed request.
    func testMediumRangesAreScannedByTheAgentAndCheckedAgainstTheMedium() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wire-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let eicar = Array(("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").utf8)
        let image = directory.appendingPathComponent("medium.img")
        try Data([UInt8](repeating: 0x20, count: 4096) + eicar + [UInt8](repeating: 0, count: 4096)).write(to: image)
        let engine = try ClamAVEngine(signatures: [TestSupport.packageRoot.appendingPathComponent("signatures").path])

        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        let replies = FrameReader(fd: fds[0])
        let body = BodyStream(reader: FrameReader(fd: fds[0]), timeout: 1)
        let medium = try SystemFile(readOnly: image.path)
        let service = ScanService(engines: [engine], replies: FrameWriter(fd: fds[1]), medium: medium,
                                  spill: directory.appendingPathComponent("spill"))
        defer { service.finish() }

        try service.receive(HelperScan(id: 1, engine: 0, label: "pixel data", count: Int64(eicar.count), medium: 4096), body: body)
        XCTAssertEqual(try replies.next(timeout: 30)?.decode(HelperScanResult.self).names, ["Kiosk.Test.EICAR.UNOFFICIAL"])
        try service.receive(HelperScan(id: 2, engine: 0, label: "the whole original file", count: 4096, medium: 0), body: body)
        XCTAssertEqual(try replies.next(timeout: 30)?.decode(HelperScanResult.self).names, [])

        for (offset, count) in [(Int64(8000), Int64(4096)), (-1, 10), (0, medium.size + 1), (Int64.max, 2)] {
            XCTAssertThrowsError(try service.receive(HelperScan(id: 3, engine: 0, label: "x", count: count, medium: offset), body: body),
                                 "\(offset)+\(count)")
        }
        let withoutMedium = ScanService(engines: [engine], replies: FrameWriter(fd: fds[1]), medium: nil,
                                        spill: directory.appendingPathComponent("spill"))
        defer { withoutMedium.finish() }
        XCTAssertThrowsError(try withoutMedium.receive(HelperScan(id: 4, engine: 0, label: "x", count: 1, medium: 0), body: body))
    }

    /// Files are admitted in the order they came, each with its own bytes: small bodies queued,
    /// a body over the limit admitted straight from the pipe after everything before it, and the
    /// original that follows a failed rebuild kept with its record.
    func testTheAdmissionLineKeepsOrderAndBytes() throws {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        let writeEnd = fds[1]
        let writer = FrameWriter(fd: writeEnd)
        let large = AdmissionLine.bodyLimit + 3 * helperChunkBytes + 5
        let bodies: [(HelperRecord.Body, [Int], String?)] = [
            (.rebuilt, [1000], nil), (.none, [], nil), (.rebuilt, [large], nil), (.original, [5, 7], nil),
            (.rebuilt, [300], "the rebuild stopped"), (.rebuilt, [helperChunkBytes, 1], nil),
        ]
        let sender = Thread {
            for (index, (kind, sizes, error)) in bodies.enumerated() {
                let message = HelperRecord(index: index, record: FileRecord(path: "/F\(index)", size: 1, kind: .dicom, verdict: .clean, findings: []),
                                           body: kind)
                try? writer.send(.record, message)
                guard kind != .none else { continue }
                for size in sizes {
                    var left = size
                    while left > 0 {
                        let piece = min(left, helperChunkBytes)
                        try? writer.send(.chunk, bytes: [UInt8](repeating: UInt8(index), count: piece))
                        left -= piece
                    }
                }
                try? writer.send(.end, HelperEnd(error: error))
                if error != nil {
                    try? writer.send(.chunk, bytes: [UInt8](repeating: 0xEE, count: 64))
                    try? writer.send(.end, HelperEnd())
                }
            }
            close(writeEnd)
        }
        sender.start()

        let reader = FrameReader(fd: fds[0])
        final class Seen: @unchecked Sendable { var files: [(Int, Int, String?, Int?)] = [] }
        let seen = Seen()
        let line = AdmissionLine(timeout: 30) { message, body in
            guard message.body != .none else { return seen.files.append((message.index, 0, nil, nil)) }
            var count = 0
            var same = true
            let error = try body.forEach { chunk in
                count += chunk.count
                same = same && chunk.allSatisfy { $0 == UInt8(message.index) }
            }
            XCTAssertTrue(same, "file \(message.index) got another file's bytes")
            var followed: Int?
            if error != nil {
                var original = 0
                _ = try body.following().forEach { original += $0.count }
                followed = original
            }
            seen.files.append((message.index, count, error, followed))
        }
        while let frame = try reader.next(timeout: 30) {
            XCTAssertEqual(frame.kind, .record)
            try line.submit(try frame.decode(HelperRecord.self), reader: reader)
        }
        try line.drain()
        line.close()
        XCTAssertEqual(seen.files.map(\.0), Array(0..<bodies.count), "admitted in order")
        XCTAssertEqual(seen.files.map(\.1), [1000, 0, large, 12, 300, helperChunkBytes + 1])
        XCTAssertEqual(seen.files[4].2, "the rebuild stopped")
        XCTAssertEqual(seen.files[4].3, 64, "the original after a failed rebuild stays with its record")
    }
}
