import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PortalConsole
import PortalStore
import PortalTestSupport
import PostgresNIO
import TestSupport
import XCTest

/// The audit search, CSV export, access report and verification, against real PostgreSQL, through the store and
/// through the area's routes.
final class AuditSearchTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    /// Names unique to one test: the class's tests share a database.
    private struct World {
        let patient: Int64
        let otherPatient: Int64
        let batch: UUID
        let kioskBatch: UUID
        let kiosk: String
        let staff: String
    }

    private func makeWorld(_ database: PortalDatabase) async throws -> World {
        let tag = UUID().uuidString.prefix(8).lowercased()
        let registry = PatientRegistry(database)
        let patient = try await registry.add(RegisteredPatient(patientID: "P-\(tag)", issuer: "HOSP", name: "Doe^Jane", birthDate: "19800101"),
                                             actor: "staff:admin-\(tag)")
        let other = try await registry.add(RegisteredPatient(patientID: "Q-\(tag)", issuer: "HOSP", name: "Roe^Rick", birthDate: "19700101"),
                                           actor: "staff:admin-\(tag)")
        let batch = try await BatchStore(database).createPatientBatch(patient: patient).id
        let kiosk = "kiosk-\(tag)"
        try await KioskRegistry(database).add(name: kiosk, serial: UUID().uuidString, fingerprint: UUID().uuidString, actor: "staff:admin-\(tag)")
        let kioskBatch = try await BatchStore(database).kioskBatch(kiosk: kiosk, session: "s-\(tag)").id
        let log = AuditLog(database)
        let staff = "rev-\(tag)"
        try await log.append(eventType: "patient.viewed", actor: "staff:\(staff)", detail: ["patient": .integer(patient)])
        try await log.append(eventType: "batch.delivered", actor: "worker:host:1", detail: ["batch": .string(batch.uuidString.lowercased())])
        try await log.append(eventType: "review.approved", actor: "staff:\(staff)", detail: [
            "batch": .string(kioskBatch.uuidString.lowercased()), "patient": .integer(patient), "reason": .string("=HYPERLINK(\"x\"),\nok"),
        ])
        try await log.append(eventType: "patient.viewed", actor: "staff:\(staff)", detail: ["patient": .integer(other)])
        try await log.append(eventType: "staff.role-changed", actor: "staff:admin-\(tag)", detail: ["staff": .string(staff)])
        try await log.append(eventType: "manifest.stored", actor: "kiosk:\(kiosk)", detail: ["batch": .string(kioskBatch.uuidString.lowercased())])
        return World(patient: patient, otherPatient: other, batch: batch, kioskBatch: kioskBatch, kiosk: kiosk, staff: staff)
    }

    func testFiltersNarrowByPatientStaffKioskTypeAndTime() async throws {
        let database = try await migratedDatabase(for: self)
        let world = try await makeWorld(database)
        let search = AuditSearch(database)

        let patient = try await search.page(AuditQuery(patient: world.patient)).records.map(\.eventType)
        XCTAssertEqual(patient, ["patient.registered", "patient.viewed", "batch.delivered", "review.approved"],
                       "records naming the patient, and those naming their batches")
        let staff = try await search.page(AuditQuery(staff: world.staff)).records.map(\.eventType)
        XCTAssertEqual(staff, ["patient.viewed", "review.approved", "patient.viewed", "staff.role-changed"])
        let kiosk = try await search.page(AuditQuery(kiosk: world.kiosk)).records.map(\.eventType)
        XCTAssertEqual(kiosk, ["kiosk.added", "review.approved", "manifest.stored"], "naming it, its batches, or made by it")
        let typed = try await search.page(AuditQuery(staff: world.staff, typePrefix: "patient.")).records
        XCTAssertEqual(typed.count, 2)
        let future = try await search.page(AuditQuery(patient: world.patient, from: Date().addingTimeInterval(3600))).records
        XCTAssertEqual(future, [])
        let past = try await search.page(AuditQuery(patient: world.patient, to: Date().addingTimeInterval(-3600))).records
        XCTAssertEqual(past, [])
        let now = try await search.page(AuditQuery(patient: world.patient, from: Date().addingTimeInterval(-3600), to: Date().addingTimeInterval(3600)))
        XCTAssertEqual(now.records.count, 4)
    }

    func testKeysetPagesCoverEverythingOnceAndAreBounded() async throws {
        let database = try await migratedDatabase(for: self)
        let world = try await makeWorld(database)
        let search = AuditSearch(database)
        var seen: [Int64] = []
        var query = AuditQuery(patient: world.patient, limit: 3)
        var pages = 0
        repeat {
            let page = try await search.page(query)
            XCTAssertLessThanOrEqual(page.records.count, 3)
            seen += page.records.map(\.seq)
            pages += 1
            guard let next = page.next else { break }
            query.after = next
        } while pages < 10
        XCTAssertEqual(pages, 2)
        XCTAssertEqual(seen, seen.sorted())
        XCTAssertEqual(Set(seen).count, 4)
        let huge = try await search.page(AuditQuery(limit: 1_000_000))
        XCTAssertLessThanOrEqual(huge.records.count, AuditSearch.maxPage)
    }

    func testCSVIsRFC4180AndFormulaSafe() {
        XCTAssertEqual(AuditCSV.line(["a", "b,c", "say \"hi\"", "two\r\nlines"]), "a,\"b,c\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\n")
        XCTAssertEqual(AuditCSV.line(["=1+1", "+x", "-y", "@z", "\tt", "plain"]), "'=1+1,'+x,'-y,'@z,'\tt,plain\r\n")
        XCTAssertEqual(AuditCSV.line(["=A1,B1"]), "\"'=A1,B1\"\r\n")
    }

    func testAccessReportGroupsEveryActorWithWhatAndWhen() async throws {
        let database = try await migratedDatabase(for: self)
        let world = try await makeWorld(database)
        let report = try await AuditSearch(database).accessReport(patient: world.patient)
        XCTAssertEqual(report.records.count, 4)
        XCTAssertFalse(report.truncated)
        let actors = Dictionary(uniqueKeysWithValues: report.actors.map { ($0.actor, $0) })
        XCTAssertEqual(Set(actors.keys), ["staff:\(world.staff)", "worker:host:1", "staff:admin-\(String(world.staff.dropFirst(4)))"])
        let reviewer = try XCTUnwrap(actors["staff:\(world.staff)"])
        XCTAssertEqual(reviewer.kind, .staff)
        XCTAssertEqual(reviewer.count, 2)
        XCTAssertEqual(reviewer.events, ["patient.viewed": 1, "review.approved": 1])
        XCTAssertLessThanOrEqual(reviewer.first, reviewer.last)
        XCTAssertEqual(actors["worker:host:1"]?.kind, .worker)
    }

    // MARK: the routes

    private func makeAuditor() -> SignedInStaff { SignedInStaff(id: 7, username: "audrey", displayName: "Audrey", role: .auditor) }

    func testRoutesAnswerPagesExportVerifyAndReportAndAuditThemselves() async throws {
        let database = try await migratedDatabase(for: self)
        let world = try await makeWorld(database)
        let anchors = try TestSupport.TemporaryDirectory("audit-anchors")
        let anchorsPath = anchors.url.appendingPathComponent("audit-anchors").path
        try await AuditLog(database).anchor(to: AuditAnchors(path: anchorsPath))
        let app = ConsoleTestApp.application([AuditAPI(database: database, logger: Logger(label: "test"), anchorsPath: anchorsPath)])
        let auditor = makeAuditor()
        let reviewer = SignedInStaff(id: 8, username: "rita", displayName: "Rita", role: .reviewer)
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/audit?patient=\(world.patient)", method: .get, headers: ConsoleTestApp.headers(reviewer)) { response in
                XCTAssertEqual(response.status, .forbidden)
            }
            try await client.execute(uri: "/api/audit?patient=\(world.patient)", method: .get, headers: ConsoleTestApp.headers(nil)) { response in
                XCTAssertEqual(response.status, .unauthorized)
            }
            try await client.execute(uri: "/api/audit?patient=\(world.patient)&limit=2", method: .get, headers: ConsoleTestApp.headers(auditor)) { response in
                XCTAssertEqual(response.status, .ok)
                let page = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                XCTAssertEqual((page?["records"] as? [Any])?.count, 2)
                XCTAssertNotNil(page?["next"] as? Int)
            }
            try await client.execute(uri: "/api/audit?from=yesterday", method: .get, headers: ConsoleTestApp.headers(auditor)) { response in
                XCTAssertEqual(response.status, .badRequest)
            }
            try await client.execute(uri: "/api/audit/export.csv?patient=\(world.patient)", method: .get, headers: ConsoleTestApp.headers(auditor)) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headers[.contentType], "text/csv; charset=utf-8")
                let text = String(buffer: response.body)
                XCTAssertTrue(text.hasPrefix("seq,at,event_type,actor,detail\r\n"))
                XCTAssertEqual(text.components(separatedBy: "\r\n").filter { $0.contains("review.approved") }.count, 1)
                XCTAssertTrue(text.contains("\\n"), "the detail's line break stays escaped inside its JSON")
            }
            try await client.execute(uri: "/api/audit/verify", method: .post, headers: ConsoleTestApp.headers(auditor)) { response in
                XCTAssertEqual(response.status, .ok)
                let answer = try JSONDecoder().decode(AuditAPI.Verification.self, from: Data(String(buffer: response.body).utf8))
                XCTAssertEqual(answer.result, "intact")
                XCTAssertEqual(answer.anchors, 1)
            }
            try await client.execute(uri: "/api/audit/patients/\(world.patient)/access", method: .get, headers: ConsoleTestApp.headers(auditor)) { response in
                XCTAssertEqual(response.status, .ok)
                let report = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                // The export of this patient's records names the patient: the auditor who made it is in the report too.
                let actors = (report?["actors"] as? [[String: Any]])?.compactMap { $0["actor"] as? String }
                XCTAssertEqual(Set(actors ?? []), ["staff:\(world.staff)", "worker:host:1", "staff:admin-\(world.staff.dropFirst(4))", "staff:audrey"])
            }
        }
        let own = try await AuditSearch(database).page(AuditQuery(staff: "audrey")).records
        XCTAssertEqual(own.map(\.eventType).suffix(3), [AuditEvent.auditExported, AuditEvent.auditVerified, AuditEvent.auditAccessReport])
        XCTAssertEqual(own.last?.detail, .object(["patient": .integer(world.patient), "records": .integer(5)]))
    }

    func testVerifySaysTruncatedWhenAnAnchorNamesARecordThatIsGone() async throws {
        let database = try await migratedDatabase(for: self)
        _ = try await makeWorld(database)
        let anchors = try TestSupport.TemporaryDirectory("audit-anchors")
        let path = anchors.url.appendingPathComponent("audit-anchors").path
        let head = try await unwrap(try await AuditLog(database).head())
        try AuditAnchors(path: path).append(seq: head.seq + 1000, hash: Data(repeating: 7, count: 32))
        let result = try await AuditAPI(database: database, logger: Logger(label: "test"), anchorsPath: path).verify()
        XCTAssertEqual(result.result, "truncated")
        XCTAssertEqual(result.anchoredSeq, head.seq + 1000)
    }
}
