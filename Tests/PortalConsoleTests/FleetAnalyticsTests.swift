import Analytics
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Dashboard
@testable import PortalConsole
import PortalProtocol
import PortalStore
import PortalTestSupport
import SessionReport
import XCTest

/// Fleet analytics over a real PostgreSQL: three sessions whose summaries are made from session reports the way the
/// kiosk (forwarded in its manifest) and the worker (its own report) make them, then every number of the JSON view,
/// the filters, the CSV tables and the SVG charts.
///
/// - Session A, kiosk desk-a, 2026-03-02: the desk read a PDI disc (DICOMDIR, 3 instances, one disarmed for malware,
///   an autorun file left out, 5,001,100 bytes in 10 s); the worker rejected that instance (clamd) and counted 2.
/// - Session B, kiosk desk-b, 2026-03-03, not yet checked by a worker: no DICOMDIR, 2 instances of another patient
///   imported by override, from a facility whose name is a spreadsheet formula.
/// - Session C, a patient's portal upload, 2026-03-03: one instance clean, one rejected (clamav, executable preamble).
final class FleetAnalyticsTests: XCTestCase {
    override class func tearDown() { TestClusters.stopBlocking(String(describing: self)) }

    static let stMary = "St. Mary's \"North\" <Wing>"
    static let formula = "=HYPERLINK(\"http://x\")"
    static let alice = SignedInStaff(id: 1, username: "alice", displayName: "Alice", role: .auditor)
    let logger = Logger(label: "test.analytics")

    // MARK: The JSON view

    func testEveryNumberOfThePeriod() async throws {
        let database = try await fixture()
        let report = try await FleetAnalytics(database).report(try filter(from: "2026-03-01", to: "2026-03-04"))
        let s = report.statistics
        XCTAssertEqual(report.checkedSessions, 2)
        XCTAssertEqual(report.uncheckedSessions, 1)
        XCTAssertEqual(s.sessions, 3)
        XCTAssertEqual(s.instances, 5)
        XCTAssertEqual([s.clean, s.disarmed, s.rejected, s.discarded, s.delivered], [5, 0, 2, 0, 5])
        XCTAssertEqual(s.malwareFiles, 2)
        XCTAssertEqual([s.mismatchSessions, s.overrides, s.overriddenStudies], [1, 1, 1])
        XCTAssertEqual(s.bytes, 10_001_100)
        XCTAssertEqual(s.seconds, 32, accuracy: 0.001)
        XCTAssertEqual(s.throughputMBps, 10_001_100 / 1e6 / 32, accuracy: 1e-9)
        XCTAssertEqual(s.families, ["malware": 2, "preamble": 1, "dicomdir": 1])
        XCTAssertEqual(s.codes, ["malware.clamd": 1, "malware.clamav": 1, "preamble.executable": 1, "dicomdir.absent": 1])
        XCTAssertEqual(s.malware, ["clamd": ["Eicar-Test-Signature": 1], "clamav": ["Win.Test.EICAR_HDB-1": 1]])
        XCTAssertEqual([s.withDICOMDIR, s.pdiLayout, s.jpeg2000], [1, 1, 0])
        XCTAssertEqual(s.results, ["0": 3])

        XCTAssertEqual(s.days.map(\.date), ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"])
        var second = Statistics.Day(date: "2026-03-02")
        second.sessions = 1; second.instances = 2; second.threats = 1; second.bytes = 5_001_100; second.seconds = 10
        second.clean = 2; second.rejected = 1; second.delivered = 2; second.malware = 1
        var third = Statistics.Day(date: "2026-03-03")
        third.sessions = 2; third.instances = 3; third.threats = 1; third.mismatches = 1; third.bytes = 5_000_000; third.seconds = 22
        third.clean = 3; third.rejected = 1; third.delivered = 3; third.malware = 1; third.overrides = 1
        XCTAssertEqual(s.days, [Statistics.Day(date: "2026-03-01"), second, third, Statistics.Day(date: "2026-03-04")])

        XCTAssertEqual(s.facilities.map(\.name), [Self.stMary, Self.formula])
        let mary = s.facilities[0], other = s.facilities[1]
        XCTAssertEqual([mary.discs, mary.instances, mary.withoutDICOMDIR, mary.nonPDI, mary.jpeg2000, mary.malware, mary.mismatches],
                       [2, 3, 1, 1, 0, 2, 0])
        XCTAssertEqual([other.discs, other.instances, other.withoutDICOMDIR, other.nonPDI, other.jpeg2000, other.malware, other.mismatches],
                       [1, 2, 1, 1, 0, 0, 1])
    }

    func testTheAPIAnswersTheSameAsTheStore() async throws {
        let database = try await fixture()
        let expected = try await FleetAnalytics(database).report(try filter(from: "2026-03-01", to: "2026-03-04"))
        try await app(database).test(.router) { client in
            try await client.execute(uri: "/api/analytics?from=2026-03-01&to=2026-03-04", method: .get, headers: ConsoleTestApp.headers(Self.alice)) { response in
                XCTAssertEqual(response.status, .ok)
                XCTAssertEqual(response.headers[.contentType], "application/json; charset=utf-8")
                let decoded = try JSONDecoder().decode(FleetAnalytics.Report.self, from: Data(response.body.readableBytesView))
                XCTAssertEqual(decoded, expected)
            }
            try await client.execute(uri: "/api/analytics", method: .get, headers: ConsoleTestApp.headers(nil)) { response in
                XCTAssertEqual(response.status, .unauthorized)
            }
        }
    }

    func testFilters() async throws {
        let database = try await fixture()
        let analytics = FleetAnalytics(database)
        func sessions(_ filter: AnalyticsFilter) async throws -> [String] {
            try await analytics.sessions(filter).map { "\($0.source)/\($0.kiosk ?? "-")/\($0.day)" }
        }
        let period = (from: "2026-03-01", to: "2026-03-04")
        var all = try await sessions(try filter(from: period.from, to: period.to))
        XCTAssertEqual(all, ["kiosk/desk-a/2026-03-02", "kiosk/desk-b/2026-03-03", "portal/-/2026-03-03"])
        all = try await sessions(try filter(from: period.from, to: period.to, kiosk: "desk-a"))
        XCTAssertEqual(all, ["kiosk/desk-a/2026-03-02"])
        all = try await sessions(try filter(from: period.from, to: period.to, source: "portal"))
        XCTAssertEqual(all, ["portal/-/2026-03-03"])
        all = try await sessions(try filter(from: period.from, to: period.to, source: "kiosk"))
        XCTAssertEqual(all, ["kiosk/desk-a/2026-03-02", "kiosk/desk-b/2026-03-03"])
        all = try await sessions(try filter(from: "2026-03-02", to: "2026-03-02"))
        XCTAssertEqual(all, ["kiosk/desk-a/2026-03-02"])
        all = try await sessions(try filter(from: period.from, to: period.to, kiosk: "desk-b", source: "portal"))
        XCTAssertEqual(all, [])
        all = try await sessions(try filter(from: period.from, to: period.to, facility: Self.formula))
        XCTAssertEqual(all, ["kiosk/desk-b/2026-03-03"])

        let mary = try await analytics.report(try filter(from: period.from, to: period.to, facility: Self.stMary))
        XCTAssertEqual(mary.statistics.sessions, 2)
        XCTAssertEqual(mary.statistics.facilities.map(\.name), [Self.stMary], "a facility filter lists that facility alone")

        // Refusals name what is wrong, over the API.
        let refusals: [(String, String)] = [
            ("from=2026-02-30", "bad-date"), ("to=yesterday", "bad-date"), ("from=2026-03-05&to=2026-03-01", "reversed-period"),
            ("from=2024-01-01&to=2026-01-01", "period-too-long"), ("source=edge", "bad-source"),
            ("kiosk=" + String(repeating: "k", count: 65), "bad-name"), ("facility=a%0Ab", "bad-name"),
        ]
        try await app(database).test(.router) { client in
            for (query, code) in refusals {
                try await client.execute(uri: "/api/analytics?" + query, method: .get, headers: ConsoleTestApp.headers(Self.alice)) { response in
                    XCTAssertEqual(response.status, .badRequest, query)
                    let body = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                    XCTAssertEqual(body?["error"] as? String, code, query)
                    XCTAssertFalse((body?["message"] as? String ?? "").isEmpty, query)
                }
            }
        }
        // Without a period: the last 30 days, today included.
        let today = Statistics.day(Date())
        let recent = try AnalyticsFilter(from: nil, to: nil, facility: nil, kiosk: nil, source: nil)
        XCTAssertEqual(recent.to, today)
        XCTAssertEqual(recent.days.count, 30)
    }

    // MARK: CSV

    func testCSVTablesAreRFC4180AndFormulaSafe() async throws {
        let database = try await fixture()
        let query = "from=2026-03-01&to=2026-03-04"
        let head = try await AuditLog(database).head()?.seq ?? 0
        let tables = try await app(database).test(.router) { client in
            var tables: [String: String] = [:]
            for table in ["days", "facilities", "findings", "malware", "sessions"] {
                tables[table] = try await client.execute(uri: "/api/analytics/export.csv?\(query)&table=\(table)", method: .get,
                                                         headers: ConsoleTestApp.headers(Self.alice)) { response in
                    XCTAssertEqual(response.status, .ok, table)
                    XCTAssertEqual(response.headers[.contentType], "text/csv; charset=utf-8; header=present")
                    XCTAssertEqual(response.headers[.contentDisposition], "attachment; filename=\"analytics-\(table)-2026-03-01-2026-03-04.csv\"")
                    return String(buffer: response.body)
                }
            }
            try await client.execute(uri: "/api/analytics/export.csv?\(query)&table=patients", method: .get,
                                     headers: ConsoleTestApp.headers(Self.alice)) { response in
                XCTAssertEqual(response.status, .badRequest)
                XCTAssertTrue(String(buffer: response.body).contains("bad-table"))
            }
            return tables
        }
        XCTAssertEqual(tables["facilities"], """
            facility,sessions,instances,without_dicomdir,not_ihe_pdi,jpeg2000,malware_sessions,mismatch_sessions\r
            "St. Mary's ""North"" <Wing>",2,3,1,1,0,2,0\r
            "'=HYPERLINK(""http://x"")",1,2,1,1,0,0,1\r

            """)
        XCTAssertEqual(tables["malware"], "engine,signature,findings\r\nclamav,Win.Test.EICAR_HDB-1,1\r\nclamd,Eicar-Test-Signature,1\r\n")
        XCTAssertEqual(tables["findings"], """
            kind,name,findings\r
            family,dicomdir,1\r
            family,malware,2\r
            family,preamble,1\r
            code,dicomdir.absent,1\r
            code,malware.clamav,1\r
            code,malware.clamd,1\r
            code,preamble.executable,1\r

            """)
        XCTAssertEqual(tables["days"], """
            day,sessions,instances,bytes,clean,disarmed,rejected,discarded,delivered,malware_files,malware_findings,mismatch_sessions,override_sessions,throughput_mb_s\r
            2026-03-01,0,0,0,0,0,0,0,0,0,0,0,0,0.000\r
            2026-03-02,1,2,5001100,2,0,1,0,2,1,1,0,0,0.500\r
            2026-03-03,2,3,5000000,3,0,1,0,3,1,1,1,1,0.227\r
            2026-03-04,0,0,0,0,0,0,0,0,0,0,0,0,0.000\r

            """)
        let sessions = try XCTUnwrap(tables["sessions"]).components(separatedBy: "\r\n")
        XCTAssertEqual(sessions.count, 5, "a header, three sessions and the final line end")
        XCTAssertTrue(sessions[0].hasPrefix("batch,source,kiosk,day,facilities,instances,"))
        XCTAssertTrue(sessions[2].contains(",kiosk,desk-b,2026-03-03,\"'=HYPERLINK(\"\"http://x\"\")\",2,2,0,0,0,2,0,1,yes,no,no,4000000,20.000,no"),
                      sessions[2])
        XCTAssertEqual(CSVFields.split(sessions[1]).count, 19)
        XCTAssertEqual(CSVFields.split(sessions[2])[4], "'" + Self.formula, "the reader gets the name back, defused")

        // Each download is audited, naming the table and filters, never a patient.
        var exported: [(String, String)] = []
        for try await (actor, detail) in try await database.client.query("""
            SELECT actor, detail::text FROM audit WHERE event_type = \(AuditEvent.analyticsExported) AND seq > \(head) ORDER BY seq
            """, logger: logger).decode((String, String).self) { exported.append((actor, detail)) }
        XCTAssertEqual(exported.map(\.0), Array(repeating: "staff:alice", count: 5))
        let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(exported[0].1.utf8)) as? [String: Any])
        XCTAssertEqual(first["table"] as? String, "days")
        XCTAssertEqual(first["from"] as? String, "2026-03-01")
        XCTAssertEqual(first["to"] as? String, "2026-03-04")
        XCTAssertEqual(first["rows"] as? Int, 4)
    }

    func testCSVCells() {
        XCTAssertEqual(AnalyticsCSV.cell("plain"), "plain")
        XCTAssertEqual(AnalyticsCSV.cell("a,b"), "\"a,b\"")
        XCTAssertEqual(AnalyticsCSV.cell("line\nbreak"), "\"line\nbreak\"")
        XCTAssertEqual(AnalyticsCSV.cell("+1"), "'+1")
        XCTAssertEqual(AnalyticsCSV.cell("-2"), "'-2")
        XCTAssertEqual(AnalyticsCSV.cell("@SUM(A1)"), "'@SUM(A1)")
        XCTAssertEqual(AnalyticsCSV.cell("\tx"), "'\tx")
    }

    // MARK: Charts

    func testChartsAreWellFormedSVGWithEscapedText() async throws {
        let database = try await fixture()
        let names = ["sessions", "instances", "throughput", "verdicts", "families", "codes", "malware", "facilities"]
        try await app(database).test(.router) { client in
            for name in names {
                for query in ["from=2026-03-01&to=2026-03-04", "from=2026-03-01&to=2026-03-04&kiosk=desk-b&source=portal"] {
                    try await client.execute(uri: "/api/analytics/charts/\(name).svg?\(query)", method: .get,
                                             headers: ConsoleTestApp.headers(Self.alice)) { response in
                        XCTAssertEqual(response.status, .ok, name)
                        XCTAssertEqual(response.headers[.contentType], "image/svg+xml; charset=utf-8")
                        let svg = String(buffer: response.body)
                        let parsed = SVGCheck(svg)
                        XCTAssertTrue(parsed.wellFormed, "\(name) \(query): \(parsed.error ?? "")\n\(svg)")
                        XCTAssertEqual(parsed.root, "svg")
                        XCTAssertFalse(svg.contains("<Wing>"), "unescaped text in \(name)")
                        XCTAssertFalse(svg.contains("<script"), name)
                    }
                }
            }
            try await client.execute(uri: "/api/analytics/charts/facilities.svg?from=2026-03-01&to=2026-03-04", method: .get,
                                     headers: ConsoleTestApp.headers(Self.alice)) { response in
                let parsed = SVGCheck(String(buffer: response.body))
                XCTAssertTrue(parsed.titles.contains("\(Self.stMary): 2"), "\(parsed.titles)")
                XCTAssertTrue(parsed.titles.contains("\(Self.formula): 1"), "\(parsed.titles)")
                XCTAssertTrue(parsed.texts.contains("St. Mary's \"North\" <Win…"), "\(parsed.texts)")
            }
            try await client.execute(uri: "/api/analytics/charts/malware.svg?from=2026-03-01&to=2026-03-04", method: .get,
                                     headers: ConsoleTestApp.headers(Self.alice)) { response in
                let parsed = SVGCheck(String(buffer: response.body))
                XCTAssertTrue(parsed.titles.contains("Eicar-Test-Signature (clamd): 1"), "\(parsed.titles)")
                XCTAssertTrue(parsed.titles.contains("Win.Test.EICAR_HDB-1 (clamav): 1"), "\(parsed.titles)")
            }
            try await client.execute(uri: "/api/analytics/charts/patients.svg", method: .get, headers: ConsoleTestApp.headers(Self.alice)) { response in
                XCTAssertEqual(response.status, .notFound)
            }
        }
    }

    /// The kiosk's dashboard draws with the same code and still has what its tests and operators look for.
    func testTheKioskDashboardStillDrawsItsCharts() throws {
        let summaries = [SessionSummary(Self.reportA(desk: true), exit: 0), SessionSummary(Self.reportB(), exit: 0)]
        let stats = Statistics(summaries)
        let page = DashboardPage.render(stats, station: "desk-a", generated: Date())
        for id in ["chart-sessions", "chart-instances", "chart-families", "chart-mismatches", "chart-throughput", "facilities"] {
            XCTAssertTrue(page.contains("id=\"\(id)\""), id)
        }
        XCTAssertTrue(page.contains("St. Mary&#39;s &quot;North&quot; &lt;Wing&gt;"))
        XCTAssertEqual(stats.malware, ["clamav": ["Win.Test.EICAR_HDB-1": 1]])
    }

    /// Summaries written before the new fields decode, and count as having none.
    func testOldSummaryLinesStillDecode() throws {
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(SessionSummary(Self.reportA(desk: true), exit: 0))) as? [String: Any])
        object.removeValue(forKey: "malware")
        object.removeValue(forKey: "overriddenStudies")
        let old = try JSONDecoder().decode(SessionSummary.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(old.malware)
        XCTAssertEqual(Statistics([old]).malware, [:])
        XCTAssertEqual(Statistics([old]).overriddenStudies, 0)
    }

    // MARK: Fixture

    func app(_ database: PortalDatabase) -> some ApplicationProtocol {
        ConsoleTestApp.application([AnalyticsAPI(database: database, logger: logger)])
    }

    func filter(from: String, to: String, facility: String? = nil, kiosk: String? = nil, source: String? = nil) throws -> AnalyticsFilter {
        try AnalyticsFilter(from: from, to: to, facility: facility, kiosk: kiosk, source: source)
    }

    /// The three sessions, recorded once per class (the tests of a class share its database).
    func fixture() async throws -> PortalDatabase {
        try await seededDatabase(for: self, unlessRowsIn: "session_summaries") { database in
            let kiosks = KioskRegistry(database)
            try await kiosks.add(name: "desk-a", serial: "0a", fingerprint: String(repeating: "a", count: 64), actor: "test")
            try await kiosks.add(name: "desk-b", serial: "0b", fingerprint: String(repeating: "b", count: 64), actor: "test")
            let batches = BatchStore(database)
            let summaries = SessionSummaries(database)

            // A: the desk's summary travels in the manifest as the kiosk encodes it; then the worker's.
            let a = try await batches.kioskBatch(kiosk: "desk-a", session: "session-a")
            let forwarded = try JSONDocument(encoding: SessionSummary(Self.reportA(desk: true), exit: 0))
            try await summaries.recordKiosk(batch: a.id, analytics: forwarded.json)
            try await summaries.recordKiosk(batch: a.id, analytics: forwarded.json)
            try await database.transaction { connection in
                try await summaries.recordChecked(batch: a.id, summary: SessionSummary(Self.reportA(desk: false), exit: 0), on: connection)
            }
            // B: only the desk's so far.
            let b = try await batches.kioskBatch(kiosk: "desk-b", session: "session-b")
            try await summaries.recordKiosk(batch: b.id, analytics: try JSONDocument(encoding: SessionSummary(Self.reportB(), exit: 0)).json)
            // C: a patient's upload, the worker's summary alone.
            let patient = try await PatientRegistry(database).add(RegisteredPatient(patientID: "P1", issuer: "H", name: "Doe^Jane", birthDate: "19800101"),
                                                                  actor: "test")
            let c = try await batches.createPatientBatch(patient: patient)
            try await database.transaction { connection in
                try await summaries.recordChecked(batch: c.id, summary: SessionSummary(Self.reportC(), exit: 0), on: connection)
            }
            // A forwarded summary that is not one is refused, and nothing is kept.
            do {
                try await summaries.recordKiosk(batch: b.id, analytics: Data("{\"session\": 1}".utf8))
                XCTFail("an unreadable summary was kept")
            } catch is SessionSummaryError {}
        }
    }

    // MARK: Reports

    static func report(_ session: String, _ started: String, _ finished: String, files: [FileRecord], studies: [Study],
                       media: [Finding] = [], override: String? = nil) -> Report {
        var report = Report(source: .init(path: "/dev/sr0", filesystem: "iso9660", label: "DISC"))
        report.sessionID = session
        report.startedAt = started
        report.finishedAt = finished
        report.files = files
        report.studies = studies
        report.media.findings = media
        report.identityOverride = override
        var totals = Report.Totals()
        totals.files = files.count
        totals.dicom = files.filter { $0.kind == .dicom }.count
        totals.clean = files.filter { $0.verdict == .clean }.count
        totals.disarmed = files.filter { $0.verdict == .disarmed }.count
        totals.rejected = files.filter { $0.verdict == .rejected }.count
        totals.discarded = files.filter { $0.verdict == .discarded }.count
        totals.delivered = files.filter { $0.delivery == .stored }.count
        report.totals = totals
        return report
    }

    static func study(_ institution: String, instances: Int, identity: IdentityResult = .match) -> Study {
        var study = Study(studyInstanceUID: "1.2.3.\(instances)", patientName: "Doe^Jane", patientID: "P1", birthDate: "19800101",
                          description: "CT", modalities: ["CT"], instances: instances, identity: identity, series: 1)
        study.institutions = [institution]
        return study
    }

    /// The findings the Protector's engine step writes: the code names the engine, the detail starts with the signature.
    static func malware(_ engine: String, _ detail: String) -> Finding {
        Finding(.malware(engine: engine), .critical, detail)
    }

    static func reportA(desk: Bool) -> Report {
        if desk {
            return report("session-a", "2026-03-02T10:00:00.000Z", "2026-03-02T10:00:10.000Z", files: [
                FileRecord(path: "/DICOMDIR", size: 1000, kind: .dicomdir, verdict: .clean),
                FileRecord(path: "/DICOM/IM1", size: 2_000_000, kind: .dicom, verdict: .clean, delivery: .stored),
                FileRecord(path: "/DICOM/IM2", size: 2_000_000, kind: .dicom, verdict: .disarmed,
                           findings: [malware("clamav", "Win.Test.EICAR_HDB-1 in the preamble")], delivery: .stored),
                FileRecord(path: "/DICOM/IM3", size: 1_000_000, kind: .dicom, verdict: .clean, delivery: .stored),
                FileRecord(path: "/AUTORUN.INF", size: 100, kind: .autorun, verdict: .discarded,
                           findings: [Finding(.autorunDiscarded, .info, "autorun file left out")]),
            ], studies: [study(stMary, instances: 3)])
        }
        return report("session-a", "2026-03-02T11:00:00.000Z", "2026-03-02T11:00:05.000Z", files: [
            FileRecord(path: "files/1", size: 2_000_000, kind: .dicom, verdict: .clean, delivery: .stored),
            FileRecord(path: "files/2", size: 2_000_000, kind: .dicom, verdict: .rejected,
                       findings: [malware("clamd", "Eicar-Test-Signature in the whole file and still in its rebuild")]),
            FileRecord(path: "files/3", size: 1_000_000, kind: .dicom, verdict: .clean, delivery: .stored),
        ], studies: [study(stMary, instances: 2)])
    }

    static func reportB() -> Report {
        report("session-b", "2026-03-03T09:00:00.000Z", "2026-03-03T09:00:20.000Z", files: [
            FileRecord(path: "/images/scan 1.dcm", size: 3_000_000, kind: .dicom, verdict: .clean, delivery: .stored),
            FileRecord(path: "/images/scan 2.dcm", size: 1_000_000, kind: .dicom, verdict: .clean, delivery: .stored),
        ], studies: [study(formula, instances: 2, identity: .mismatch)],
        media: [Finding(.dicomdirAbsent, .info, "no DICOMDIR")], override: "confirmed by phone")
    }

    static func reportC() -> Report {
        report("portal-c", "2026-03-03T12:00:00.000Z", "2026-03-03T12:00:02.000Z", files: [
            FileRecord(path: "upload/a.dcm", size: 500_000, kind: .dicom, verdict: .clean, delivery: .stored),
            FileRecord(path: "upload/b.dcm", size: 500_000, kind: .dicom, verdict: .rejected, findings: [
                malware("clamav", "Win.Test.EICAR_HDB-1 in the whole file and still in its rebuild"),
                Finding(.preambleExecutable, .critical, "a Windows program header in the preamble"),
            ]),
        ], studies: [study(stMary, instances: 1)])
    }
}

/// XMLParser over a chart: whether it parses, its root element, and the text of its `title` and `text` elements.
final class SVGCheck: NSObject, XMLParserDelegate {
    private(set) var wellFormed = false
    private(set) var error: String?
    private(set) var root: String?
    private(set) var titles: [String] = []
    private(set) var texts: [String] = []
    private var current: String?
    private var buffer = ""

    init(_ svg: String) {
        super.init()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = self
        wellFormed = parser.parse()
        error = parser.parserError.map { "\($0)" }
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        if root == nil { root = name }
        if name == "title" || name == "text" { current = name; buffer = "" }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if current != nil { buffer += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        guard name == current else { return }
        if name == "title" { titles.append(buffer) } else { texts.append(buffer) }
        current = nil
    }
}

/// An independent reader of one CSV record (RFC 4180): fields split at commas outside quotes, quotes undoubled.
enum CSVFields {
    static func split(_ line: String) -> [String] {
        var fields: [String] = [], field = "", quoted = false, previousQuote = false
        for character in line {
            if quoted {
                if character == "\"" { quoted = false; previousQuote = true } else { field.append(character) }
            } else if character == "\"" {
                if previousQuote { field.append("\"") }
                quoted = true; previousQuote = false
            } else if character == "," {
                fields.append(field); field = ""; previousQuote = false
            } else {
                field.append(character); previousQuote = false
            }
        }
        fields.append(field)
        return fields
    }
}
