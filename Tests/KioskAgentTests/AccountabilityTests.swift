import Foundation
import TestSupport
import XCTest

/// Session receipts (kept, looked up by code, printed through a real cupsd) and scan analytics
/// (`stats`, the dashboard and `/metrics`, checked in headless Chromium from Debian).
final class AccountabilityTests: XCTestCase {
    private func lookupCode(_ report: [String: Any]) throws -> String { try XCTUnwrap(report["lookupCode"] as? String) }

    func testEverySessionKeepsAReceiptFoundByItsCodeAndPrintedThroughCUPS() throws {
        let dir = try TestSupport.TemporaryDirectory("receipt")
        let tree = try IngestFixtures.makeTree(in: dir, extraDICOM: ["CT_small.dcm", "MR_small.dcm"], withDICOMDIR: false)
        let state = dir.path("state")
        let result = try IngestFixtures.agent(["ingest", tree.root.path, "--state-dir", state, "--report", dir.path("report.json")])
        XCTAssertEqual(result.status, 0, result.stderrText)
        let report = try IngestFixtures.report(dir.path("report.json"))
        let code = try lookupCode(report)
        let session = try XCTUnwrap(report["sessionID"] as? String)
        XCTAssertNotNil(code.wholeMatch(of: /[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}/), code)
        let patients = (report["studies"] as? [[String: Any]] ?? []).flatMap { [$0["patientID"] as? String ?? "", $0["patientName"] as? String ?? ""] }
        for value in patients where !value.isEmpty { XCTAssertFalse(code.contains(value), "the code carries no patient data") }

        // The HTML receipt stands alone: nothing it would fetch, nothing it would run.
        let html = try String(contentsOfFile: "\(state)/receipts/\(session).html", encoding: .utf8)
        for outside in ["http://", "https://", "src=", "<script", "<link", "@import", "url("] { XCTAssertFalse(html.contains(outside), outside) }
        XCTAssertTrue(html.contains(code))
        XCTAssertTrue(html.contains("1CT1"), "the receipt names the patient it is for")
        let mode = try FileManager.default.attributesOfItem(atPath: "\(state)/receipts/\(session).html")[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o640)

        // Looked up by the code as staff would type it: lower case, no dash.
        let shown = try IngestFixtures.agent(["receipt", "show", code.lowercased().replacingOccurrences(of: "-", with: ""), "--state-dir", state])
        XCTAssertEqual(shown.status, 0, shown.stderrText)
        XCTAssertTrue(shown.stdoutText.contains(code))
        XCTAssertTrue(shown.stdoutText.split(separator: "\n").allSatisfy { $0.count <= 42 }, "fits an 80 mm receipt printer")
        let words = shown.stdoutText.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssertTrue(words.contains("A program on the disc (such as a viewer) was left out."), words)
        XCTAssertEqual(try IngestFixtures.agent(["receipt", "show", session, "--html", "--state-dir", state]).stdoutText, html)
        XCTAssertEqual(try IngestFixtures.agent(["receipt", "show", "0000000000", "--state-dir", state]).status, 1, "a code whose check fails")
        XCTAssertEqual(try IngestFixtures.agent(["receipt", "print", code, "--state-dir", state]).status, 2, "no printer configured")

        let cups = try CUPSPeer()
        let printed = try IngestFixtures.agent(["receipt", "print", code, "--printer", cups.queue, "--state-dir", state], environment: cups.environment)
        XCTAssertEqual(printed.status, 0, printed.stderrText)
        XCTAssertEqual(cups.printed(), shown.stdoutText, "the printer got the text receipt")
        let missing = try IngestFixtures.agent(["receipt", "print", code, "--printer", "no-such-queue", "--state-dir", state], environment: cups.environment)
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderrText.contains("no-such-queue"), missing.stderrText)
    }

    func testStatsAndTheDashboardShowTheSeededStateInChromium() throws {
        let chromium = try TestSupport.tool("chromium-headless-shell")
        let dir = try TestSupport.TemporaryDirectory("dashboard")
        let state = dir.path("state")
        // Three discs: a clean one with a DICOMDIR, an infected one without, and a mismatch imported by override.
        let cleanDir = try TestSupport.TemporaryDirectory("dash-a"), otherDir = try TestSupport.TemporaryDirectory("dash-c")
        let clean = try IngestFixtures.makeTree(in: cleanDir, extraDICOM: ["CT_small.dcm", "JPEG2000.dcm"])
        XCTAssertEqual(try IngestFixtures.agent(["ingest", clean.root.path, "--state-dir", state]).status, 0)
        let infectedDir = try TestSupport.TemporaryDirectory("dash-b")
        let infected = try IngestFixtures.makeTree(in: infectedDir, extraDICOM: ["MR_small.dcm"], withDICOMDIR: false)
        try IngestFixtures.writeInfectedCT(to: infected.root.appendingPathComponent("DICOM/INFECTED").path)
        XCTAssertEqual(try IngestFixtures.agent(["ingest", infected.root.path, "--state-dir", state]).status, 0)
        let other = try IngestFixtures.makeTree(in: otherDir, extraDICOM: ["MR_small.dcm"], withDICOMDIR: false)
        XCTAssertEqual(try IngestFixtures.agent(["ingest", other.root.path, "--state-dir", state, "--patient-id", "SOMEONE-ELSE",
                                                 "--override-identity", "records merged by the registry"]).status, 0)

        let json = try IngestFixtures.agent(["stats", "--json", "--state-dir", state])
        XCTAssertEqual(json.status, 0, json.stderrText)
        let stats = try XCTUnwrap(JSONSerialization.jsonObject(with: json.stdout) as? [String: Any])
        let reports = try FileManager.default.contentsOfDirectory(atPath: "\(state)/reports").map { try IngestFixtures.report("\(state)/reports/\($0)") }
        let instances = reports.flatMap { $0["studies"] as? [[String: Any]] ?? [] }.reduce(0) { $0 + ($1["instances"] as? Int ?? 0) }
        XCTAssertEqual(stats["sessions"] as? Int, 3)
        XCTAssertEqual(stats["instances"] as? Int, instances)
        XCTAssertEqual(stats["malwareFiles"] as? Int, 1)
        XCTAssertEqual(stats["mismatchSessions"] as? Int, 1)
        XCTAssertEqual(stats["overrides"] as? Int, 1)
        let facilities = stats["facilities"] as? [[String: Any]] ?? []
        XCTAssertEqual(facilities.reduce(0) { $0 + ($1["jpeg2000"] as? Int ?? 0) }, 1, "\(facilities)")
        XCTAssertGreaterThanOrEqual(facilities.reduce(0) { $0 + ($1["withoutDICOMDIR"] as? Int ?? 0) }, 2, "\(facilities)")
        let text = try IngestFixtures.agent(["stats", "--state-dir", state]).stdoutText
        XCTAssertTrue(text.contains("Sessions: 3"), text)

        // The dashboard, as the service serves it, on a free loopback port.
        let log = dir.path("dashboard.log")
        let server = try IngestFixtures.startAgent(["dashboard", "--port", "0", "--state-dir", state], log: log)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        var url: String?
        for _ in 0..<100 where url == nil {
            url = (try? String(contentsOfFile: log, encoding: .utf8))?.firstMatch(of: /http:\/\/127\.0\.0\.1:\d+\//).map { String($0.0) }
            if url == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        let base = try XCTUnwrap(url, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        let metrics = try TestSupport.run("curl", ["-sf", base + "metrics"]).stdoutText
        XCTAssertTrue(metrics.contains("kiosk_sessions_total{exit=\"0\"} 3"), metrics)
        XCTAssertTrue(metrics.contains("kiosk_instances_imported_total \(instances)"), metrics)
        XCTAssertTrue(metrics.contains("kiosk_malware_files_total 1"), metrics)
        XCTAssertTrue(metrics.contains("kiosk_findings_total{family=\"malware\"}"), metrics)
        XCTAssertEqual(try TestSupport.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: rebind.example", base]).stdoutText, "403")
        XCTAssertEqual(try TestSupport.run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", base]).stdoutText, "405")

        // A real browser: the page loads, shows the numbers, and names no patient.
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1500"]
        let dom = try TestSupport.run(chromium, flags + ["--dump-dom", base]).stdoutText
        XCTAssertTrue(dom.contains("<b id=\"sessions\">3</b>"), dom)
        XCTAssertTrue(dom.contains("<b id=\"instances\">\(instances)</b>"), dom)
        XCTAssertTrue(dom.contains("<b id=\"malware\">1</b>"), dom)
        XCTAssertTrue(dom.contains("<b id=\"mismatches\">1</b>"), dom)
        XCTAssertTrue(dom.contains("id=\"chart-sessions\"") && dom.contains("id=\"chart-families\"") && dom.contains("id=\"facilities\""), dom)
        for study in reports.flatMap({ $0["studies"] as? [[String: Any]] ?? [] }) {
            for key in ["patientID", "patientName", "studyInstanceUID"] {
                if let value = study[key] as? String, value.count > 2 { XCTAssertFalse(dom.contains(value), "\(key) \(value) on the dashboard") }
            }
        }
        let artifacts = TestSupport.packageRoot.appendingPathComponent(".test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts.appendingPathComponent("dashboard.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        try TestSupport.run(chromium, flags + ["--screenshot=\(screenshot)", base])
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        XCTAssertTrue(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG")
        XCTAssertGreaterThan(png.count, 20_000, "a rendered page, not a blank one")
        print("dashboard screenshot kept at \(screenshot)")

        server.terminate()
        for _ in 0..<100 where server.isRunning { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertFalse(server.isRunning, "SIGTERM stops the dashboard")
    }
}
