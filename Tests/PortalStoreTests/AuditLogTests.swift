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

    func testCanonicalJSONIsStableThroughJSONB() throws {
        let text = JSONValue.object(detail).canonical
        XCTAssertEqual(try JSONValue.parse(text).canonical, text)
        XCTAssertEqual(JSONValue.object(["b": .integer(1), "a": .number(2.0)]).canonical, #"{"a":2,"b":1}"#)
        XCTAssertEqual(try JSONValue.parse(#"{"x": [true, 1, 1.5, null, "\u0001"]}"#).canonical, #"{"x":[true,1,1.5,null,"\u0001"]}"#)
    }
}
