import Foundation
import TestSupport
import XCTest

/// The staff console in Debian's Chromium (Selenium, Tests/Browser/e2e/console_staff.py) against the whole portal on
/// loopback: `dicom-portal core` with its private PostgreSQL and the console listener, a worker delivering to Orthanc,
/// the patients' edge, two kiosks (`kiosk-agent ingest` with their own certificates) and a patient's upload from the
/// browser that is held because the name on the images differs from the registered one. Screenshots of every console
/// page (desktop and phone) are kept under .build/artefacts/patient-portal/console/.
final class ConsoleBrowserTests: XCTestCase {
    func testAnAdministratorRunsThePortalAndAnAuditorOnlyReads() async throws {
        let rig = try PatientPortalRig("console", uploads: true)
        addTeardownBlock { rig.stopAll() }
        let pacs = try XCTUnwrap(rig.pacs)

        // Two kiosks deliver a disc each for the patient the desk confirmed, from two facilities.
        try rig.addPatient(id: "H777", name: "DOE^JANE", birthDate: "19700101", email: "jane@example.org")
        let desks = [("desk-1", 4, 2, "Riverside General Hospital"), ("desk-2", 3, 1, "Lakeside Clinic")]
        for (index, (name, ct, mr, institution)) in desks.enumerated() {
            let kiosk = try rig.addKiosk(name)
            let disc = try rig.sampleDisc(name, ct: ct, mr: mr, seed: 40 + index, name: "DOE^JANE", birthDate: "19700101", institution: institution)
            try rig.ingest(disc, kiosk: kiosk, patientID: "H777", name: "DOE^JANE", birthDate: "19700101")
        }
        let kiosksDelivered = try await rig.waitUntil(seconds: 240) {
            try await rig.count("SELECT count(*) FROM batches WHERE kiosk IS NOT NULL AND state = 'delivered'") == 2
        }
        XCTAssertTrue(kiosksDelivered, rig.workers.first?.output ?? "")

        // A patient's own upload whose images carry another first name: held for review.
        try await rig.passkeyPatient(id: "H300", name: "MOUSE^MINNIE", birthDate: "19800214", email: "minnie@example.org")
        let folder = try XCTUnwrap(try rig.makeFolders(["disc"], name: "MOUSE^MINERVA", birthDate: "19800214")["disc"])
        let sent = try rig.driver("upload_folders.py", ["--email", "minnie@example.org", "--folder", "disc:\(folder.folder):all"]).finish(seconds: 600)
        let edgeBatch = (sent["disc"] as? [String: Any])?["batch"] as? String ?? ""
        let heldState = try await rig.coreState(edgeBatch: edgeBatch)
        XCTAssertEqual(heldState, "held")
        let heldIDs = try await rig.strings("SELECT id::text FROM batches WHERE edge_batch::text = '\(edgeBatch.lowercased())'")
        let held = try XCTUnwrap(heldIDs.first)
        let before = try rig.orthancInstances(pacs)
        for file in folder.files { XCTAssertNil(before[file.sopInstanceUID], "\(file.path) reached Orthanc before the review") }

        // The first administrator, made on the command line; the rest happens in the console.
        let added = try rig.portal(["staff", "add", "--username", "ada", "--name", "Ada Admin", "--role", "administrator"])
        let link = try XCTUnwrap(added.stdoutText.range(of: #"https://\S+/enrol\.html#token=[A-Za-z0-9_-]+"#, options: .regularExpression)
            .map { String(added.stdoutText[$0]) }, added.stdoutText)
        XCTAssertTrue(link.hasPrefix(rig.consoleURL + "/enrol.html#token="), link)
        let admin = try rig.consoleDriver(["admin", "--link", link, "--username", "ada", "--password", "violet harbour at dawn",
                                           "--held-batch", held, "--kiosks", "desk-1,desk-2"])

        // The auditor the administrator added: reads the held upload, cannot decide it.
        XCTAssertTrue(admin.waitStep("auditor-added"), admin.output)
        let auditorLink = try String(contentsOfFile: rig.work + "/auditor-link", encoding: .utf8)
        XCTAssertTrue(admin.waitStep("invited"), admin.output)
        XCTAssertTrue(TestSupport.poll(60) { rig.mail.received.contains { ($0.envelope["rcpt_tos"] as? [String]) == ["peter@example.org"] } },
                      "the invitation from the console reached the relay: \(rig.mail.log)")
        let auditor = try rig.consoleDriver(["auditor", "--link", auditorLink, "--username", "audrey", "--password", "slate quarry in the rain",
                                             "--held-batch", held]).finish(seconds: 300)
        XCTAssertEqual(auditor["decisionShown"] as? Bool, false, "an auditor is shown no decision")
        XCTAssertEqual(auditor["approveStatus"] as? Int, 403)
        XCTAssertEqual(auditor["approveError"] as? String, "forbidden")
        XCTAssertEqual(auditor["staffStatus"] as? Int, 403)
        XCTAssertFalse((auditor["nav"] as? [String] ?? []).contains("Staff"), "\(auditor)")
        XCTAssertEqual(auditor["consoleErrors"] as? [String], [])
        assertNoSidewaysScrolling(auditor)
        let stillHeld = try await rig.strings("SELECT state || '/' || coalesce(review_state, '-') FROM batches WHERE id = '\(held)'")
        XCTAssertEqual(stillHeld, ["held/pending"], "the auditor's attempt changed nothing")
        admin.go("auditor-done")

        // Approved with a reason: delivered once, under the hospital's Patient ID; the reason is in the audit.
        XCTAssertTrue(admin.waitStep("approved", seconds: 300), admin.output)
        let reason = admin.stepDetails("approved")["reason"] as? String ?? ""
        let delivered = try await rig.waitUntil(seconds: 240) { try await rig.coreState(edgeBatch: edgeBatch) == "delivered" }
        XCTAssertTrue(delivered, rig.workers.first?.output ?? "")
        let instances = try rig.orthancInstances(pacs)
        for file in folder.files {
            let ids = instances[file.sopInstanceUID] ?? []
            XCTAssertEqual(ids.count, 1, "\(file.path) arrives once")
            guard let id = ids.first else { continue }
            let tags = try pacs.get("/instances/\(id)/simplified-tags") as? [String: Any] ?? [:]
            XCTAssertEqual(tags["PatientID"] as? String, "H300", "\(file.path)")
        }
        let approvals = try await rig.strings("""
            SELECT actor || ' ' || (detail->>'reason') FROM audit WHERE event_type = 'review.approved' AND detail->>'batch' = '\(held)'
            """)
        XCTAssertEqual(approvals, ["staff:ada \(reason)"])
        admin.go("delivered")
        let seen = admin.finish(seconds: 400)
        XCTAssertEqual(seen["signCountRose"] as? Bool, true, "signed in again with the passkey")
        XCTAssertEqual(seen["consoleErrors"] as? [String], [])
        assertNoSidewaysScrolling(seen)
        XCTAssertTrue((seen["comparison"] as? String ?? "").uppercased().contains("MINERVA"), "the images' values beside the record: \(seen)")

        // The analytics count both kiosks and the upload.
        let kioskInstances = ["desk-1": 6, "desk-2": 4]
        let all = (seen["analytics"] as? [String: Any])?["statistics"] as? [String: Any] ?? [:]
        XCTAssertEqual(all["sessions"] as? Int, 3, "\(all)")
        XCTAssertEqual(all["instances"] as? Int, 10 + folder.files.count, "\(all)")
        let perKiosk = seen["analyticsPerKiosk"] as? [String: [String: Any]] ?? [:]
        for (name, count) in kioskInstances {
            let statistics = perKiosk[name]?["statistics"] as? [String: Any] ?? [:]
            XCTAssertEqual(statistics["sessions"] as? Int, 1, "\(name): \(statistics)")
            XCTAssertEqual(statistics["instances"] as? Int, count, "\(name): \(statistics)")
        }
        let portal = (seen["analyticsPortal"] as? [String: Any])?["statistics"] as? [String: Any] ?? [:]
        XCTAssertEqual(portal["sessions"] as? Int, 1, "\(portal)")
        XCTAssertEqual(portal["instances"] as? Int, folder.files.count, "\(portal)")
        let facilities = (all["facilities"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        XCTAssertTrue(Set(["Riverside General Hospital", "Lakeside Clinic"]).isSubset(of: Set(facilities)), "\(facilities)")
        let page = seen["analyticsPage"] as? [String: Any] ?? [:]
        let facilityRows = (page["facilities"] as? [[String]] ?? []).map { $0.joined(separator: " ") }
        XCTAssertTrue(facilityRows.contains { $0.contains("Lakeside Clinic") && $0.contains("4") }, "the page's facilities: \(facilityRows)")
        let charts = seen["charts"] as? [[String: Any]] ?? []
        XCTAssertFalse(charts.isEmpty)
        XCTAssertTrue(charts.allSatisfy { ($0["width"] as? Int ?? 0) > 0 }, "every chart drawn: \(charts)")
        let csv = seen["csv"] as? [String: [String: Any]] ?? [:]
        XCTAssertFalse(csv.isEmpty)
        for (link, answer) in csv {
            XCTAssertEqual(answer["status"] as? Int, 200, link)
            XCTAssertTrue((answer["type"] as? String ?? "").hasPrefix("text/csv"), link)
        }
        let sessionsCSV = csv.first { $0.key.contains("table=sessions") }?.value["text"] as? String ?? ""
        // RFC 4180 ends each record with CRLF.
        XCTAssertEqual(sessionsCSV.components(separatedBy: "\r\n").filter { !$0.isEmpty }.count, 4, "a header and the three sessions: \(sessionsCSV)")
        let fleet = seen["fleet"] as? [String: Any] ?? [:]
        let kioskRows = (fleet["kiosks"] as? [[String]] ?? []).map { $0.joined(separator: " ") }
        XCTAssertTrue(kioskRows.contains { $0.contains("desk-1") } && kioskRows.contains { $0.contains("desk-2") }, "\(kioskRows)")
        XCTAssertTrue((seen["verified"] as? String ?? "").lowercased().contains("intact"), "\(seen["verified"] ?? "")")
        let exported = try await rig.count("SELECT count(*) FROM audit WHERE event_type = 'analytics.exported' AND actor = 'staff:ada'")
        XCTAssertEqual(exported, csv.count)
        let verify = try rig.portal(["audit", "verify"])
        XCTAssertTrue(verify.stdoutText.hasPrefix("audit chain intact"), verify.stdoutText)
        let shots = try FileManager.default.contentsOfDirectory(atPath: rig.artefacts).filter { $0.hasPrefix("console-") && $0.hasSuffix(".png") }
        XCTAssertGreaterThanOrEqual(shots.count, 20, "\(shots)")
    }

    /// Every page the driver kept fits a 360 px phone without scrolling sideways.
    private func assertNoSidewaysScrolling(_ result: [String: Any], line: UInt = #line) {
        let widths = result["phoneWidths"] as? [String: Int] ?? [:]
        XCTAssertFalse(widths.isEmpty, line: line)
        for (page, width) in widths { XCTAssertLessThanOrEqual(width, 360, "\(page) scrolls sideways on a phone", line: line) }
    }
}
