import Foundation
import PortalStore
import PostgresNIO
import XCTest
import PortalTestSupport

final class AuditLogTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    private func emptyLog() async throws -> (PortalDatabase, AuditLog) {
        let database = try await migratedDatabase(for: self)
        // Only a superuser with the triggers disabled can empty it, which is what a test needs.
        try await database.client.query("ALTER TABLE audit DISABLE TRIGGER ALL")
        try await database.client.query("DELETE FROM audit")
        try await database.client.query("ALTER TABLE audit ENABLE TRIGGER ALL")
        return (database, AuditLog(database))
    }

    private let detail: [String: JSONValue] = [
        "batch": .string("9b1f"), "files": .integer(12), "ratio": .number(0.25), "clean": .bool(true),
        "note": .string("quote \" backslash \\ tab \t é"), "findings": .array([.object(["z": .null, "a": .integer(-1)])]),
    ]

    func testAChainOfRecordsVerifies() async throws {
        let (_, log) = try await emptyLog()
        var seqs: [Int64] = []
        for index in 0..<5 {
            seqs.append(try await log.append(eventType: "batch.committed", actor: "kiosk-\(index)", detail: detail))
        }
        XCTAssertEqual(seqs, seqs.sorted())
        let result = try await log.verify()
        XCTAssertEqual(result, .intact(records: 5))
    }

    /// Concurrent appends serialize on the advisory lock: the chain does not fork.
    func testConcurrentAppendsKeepOneChain() async throws {
        let (_, log) = try await emptyLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for index in 0..<10 {
                        try await log.append(eventType: "job.done", actor: "w\(worker)", detail: ["n": .integer(Int64(index))])
                    }
                }
            }
            try await group.waitForAll()
        }
        let result = try await log.verify()
        XCTAssertEqual(result, .intact(records: 40))
    }

    func testTheTableRefusesUpdateDeleteAndTruncate() async throws {
        let (database, log) = try await emptyLog()
        try await log.append(eventType: "patient.added", actor: "admin", detail: [:])
        for statement: PostgresQuery in ["UPDATE audit SET actor = 'x'", "DELETE FROM audit", "TRUNCATE audit"] {
            do {
                try await database.client.query(statement)
                XCTFail("\(statement.sql) was allowed")
            } catch let error as PSQLError {
                XCTAssertEqual(error.serverInfo?[.sqlState], "42501", statement.sql)
            }
        }
    }

    /// Altered by a superuser who disabled the triggers: verify names the first altered record.
    func testVerifyFindsTheFirstAlteredRecord() async throws {
        let (database, log) = try await emptyLog()
        var seqs: [Int64] = []
        for index in 0..<6 {
            seqs.append(try await log.append(eventType: "delivery.done", actor: "worker", detail: ["n": .integer(Int64(index))]))
        }
        try await database.client.query("ALTER TABLE audit DISABLE TRIGGER ALL")
        try await database.client.query("UPDATE audit SET detail = '{\"n\": 99}' WHERE seq = \(seqs[3])")
        try await database.client.query("ALTER TABLE audit ENABLE TRIGGER ALL")
        let altered = try await log.verify()
        XCTAssertEqual(altered, .altered(seq: seqs[3], reason: "its content does not match its hash"))

        try await database.client.query("ALTER TABLE audit DISABLE TRIGGER ALL")
        try await database.client.query("DELETE FROM audit WHERE seq = \(seqs[1])")
        try await database.client.query("ALTER TABLE audit ENABLE TRIGGER ALL")
        let deleted = try await log.verify()
        XCTAssertEqual(deleted, .altered(seq: seqs[2], reason: "its link to the previous record is broken"))
    }

    /// Records cut from the end leave the chain itself intact; the heads anchored outside the database show the cut,
    /// and an anchored record that was rewritten (chain and all) shows as altered.
    func testAnchorsOutsideTheDatabaseShowRecordsCutFromTheEnd() async throws {
        let (database, log) = try await emptyLog()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("anchors-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let anchors = AuditAnchors(path: directory + "/audit-anchors")
        var didAnchor = try await log.anchor(to: anchors)
        XCTAssertFalse(didAnchor, "an empty chain has no head to anchor")
        var seqs: [Int64] = []
        for index in 0..<3 { seqs.append(try await log.append(eventType: "batch.committed", actor: "core", detail: ["n": .integer(Int64(index))])) }
        didAnchor = try await log.anchor(to: anchors)
        XCTAssertTrue(didAnchor)
        didAnchor = try await log.anchor(to: anchors)
        XCTAssertFalse(didAnchor, "the head has not moved")
        for index in 3..<6 { seqs.append(try await log.append(eventType: "batch.committed", actor: "core", detail: ["n": .integer(Int64(index))])) }
        try await log.anchor(to: anchors)
        let kept = try anchors.read()
        XCTAssertEqual(kept.map(\.seq), [seqs[2], seqs[5]])
        XCTAssertEqual(try anchors.last(), kept.last, "the tail alone gives the newest anchor")
        let intact = try await log.verify(anchors: kept)
        XCTAssertEqual(intact, .intact(records: 6))

        // The last two records removed by a superuser: the chain verifies on its own, not against the anchors.
        try await database.client.query("ALTER TABLE audit DISABLE TRIGGER ALL")
        try await database.client.query("DELETE FROM audit WHERE seq >= \(seqs[4])")
        try await database.client.query("ALTER TABLE audit ENABLE TRIGGER ALL")
        let alone = try await log.verify()
        XCTAssertEqual(alone, .intact(records: 4))
        let cut = try await log.verify(anchors: kept)
        XCTAssertEqual(cut, .truncated(lastSeq: seqs[3], anchoredSeq: seqs[5]))

        // A rewritten anchored record (its hash recomputed, so the chain alone holds) differs from its anchor.
        let forged = AuditAnchors.Anchor(seq: seqs[2], hash: Data(repeating: 7, count: 32), at: "2026-01-01T00:00:00Z")
        let altered = try await log.verify(anchors: [forged])
        XCTAssertEqual(altered, .altered(seq: seqs[2], reason: "it differs from the anchor kept outside the database"))

        // An anchor file that is not one is an error, not "no anchors".
        try Data("12 nothex 2026\n".utf8).write(to: URL(fileURLWithPath: anchors.path))
        XCTAssertThrowsError(try anchors.read()) { error in
            XCTAssertEqual(error as? AuditAnchorError, .malformed(anchors.path, line: 1))
        }
    }

    func testCanonicalJSONIsStableThroughJSONB() throws {
        let text = JSONValue.object(detail).canonical
        XCTAssertEqual(try JSONValue.parse(text).canonical, text)
        XCTAssertEqual(JSONValue.object(["b": .integer(1), "a": .number(2.0)]).canonical, #"{"a":2,"b":1}"#)
        XCTAssertEqual(try JSONValue.parse(#"{"x": [true, 1, 1.5, null, "\u0001"]}"#).canonical, #"{"x":[true,1,1.5,null,"\u0001"]}"#)
    }
}
