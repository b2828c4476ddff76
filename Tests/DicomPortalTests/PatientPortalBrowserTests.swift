import Crypto
import Foundation
import TestSupport
import XCTest

/// The patient portal in a real browser: Debian's Chromium driven by Selenium (Tests/Browser/e2e, one driver per
/// scenario) against `dicom-portal core`, a worker and `dicom-portal edge` on loopback, with Orthanc as the PACS,
/// clamd as a second engine and aiosmtpd as the hospital's relay. The drivers say what the pages showed; this side
/// checks what reached Orthanc, PostgreSQL and the audit chain. Screenshots of every page (desktop and phone) are
/// kept under .build/artefacts/patient-portal/.
final class PatientPortalBrowserTests: XCTestCase {
    private func rig(_ name: String, uploads: Bool, edge: String = "") throws -> PatientPortalRig {
        let rig = try PatientPortalRig(name, uploads: uploads, edge: edge)
        addTeardownBlock { rig.stopAll() }
        return rig
    }

    /// Scenarios 1, 2, 5, 6 and 7: an invitation by e-mail, enrolment with an authenticator app and with a passkey,
    /// sign-in with each; wrong passwords slowed down, wrong codes locking the account, a recovery code and the
    /// hospital's unlock getting the patient back in; a cross-site POST refused; another patient's ids unknown.
    func testInvitationsSignInAndWhatGuardsTheAccounts() async throws {
        let rig = try rig("accounts", uploads: false)
        try rig.addPatient(id: "H100", name: "DOE^JANE", birthDate: "19700101", email: "jane@example.org")
        try rig.addPatient(id: "H200", name: "ROE^RICHARD", birthDate: "19551224", email: "richard@example.org")

        // 1. The e-mail's link, birth date, password, authenticator app, recovery codes; out and in again.
        let janeMail = try await rig.invite(id: "H100", email: "jane@example.org")
        let enrolment = try rig.driver("enrol_totp.py", ["--mail", janeMail, "--email", "jane@example.org",
                                                         "--password", "plum orchard by the river", "--birth-date", "1970-01-01"]).finish()
        XCTAssertTrue((enrolment["link"] as? String ?? "").hasPrefix(rig.baseURL + "/enrol.html#token="), "\(enrolment)")
        XCTAssertTrue((enrolment["mailText"] as? String ?? "").contains("St Elsewhere Hospital"), "\(enrolment)")
        XCTAssertEqual(enrolment["qrDrawn"] as? Bool, true)
        XCTAssertEqual(enrolment["secretLength"] as? Int, 32)
        XCTAssertGreaterThanOrEqual(enrolment["recoveryCodes"] as? Int ?? 0, 8)
        XCTAssertTrue((enrolment["homeAfterSignIn"] as? String ?? "").uppercased().contains("JANE DOE"), "\(enrolment)")
        XCTAssertEqual(enrolment["consoleErrors"] as? [String], [])

        // 2. A passkey from Chromium's virtual authenticator.
        let richardMail = try await rig.invite(id: "H200", email: "richard@example.org")
        let passkey = try rig.driver("enrol_passkey.py", ["--mail", richardMail, "--email", "richard@example.org",
                                                          "--password", "granite lighthouse seventeen", "--birth-date", "1955-12-24",
                                                          "--screenshots"]).finish()
        XCTAssertEqual(passkey["credentials"] as? Int, 1)
        XCTAssertEqual(passkey["residentKey"] as? Bool, true)
        XCTAssertEqual(passkey["signCountRose"] as? Bool, true)
        XCTAssertEqual(passkey["consoleErrors"] as? [String], [])

        // 5. Brute force: throttled passwords, locked by wrong codes, back in with a recovery code, then by staff.
        let guarded = try rig.driver("brute_force.py", ["--email", "jane@example.org"])
        XCTAssertTrue(guarded.waitStep("locked-again", seconds: 400), guarded.output)
        try await rig.unlock(id: "H100")
        guarded.go("unlocked")
        let brute = guarded.finish()
        XCTAssertTrue((brute["throttled"] as? String ?? "").lowercased().contains("wait"), "\(brute)")
        let lockMessages = brute["lockMessages"] as? [String] ?? []
        XCTAssertEqual(lockMessages.count, 5)
        XCTAssertTrue((lockMessages.last ?? "").contains("locked"), "\(lockMessages)")
        XCTAssertTrue((brute["lockedRightCode"] as? String ?? "").contains("locked"), "\(brute)")
        XCTAssertTrue((brute["codesLeft"] as? String ?? "").contains(String((enrolment["recoveryCodes"] as? Int ?? 0) - 1)), "\(brute)")

        // 6. Another site's form and fetch() while Jane is signed in.
        let crossSite = try rig.driver("cross_site.py", ["--email", "jane@example.org"]).finish()
        XCTAssertTrue((crossSite["formAnswer"] as? String ?? "").contains("\"error\":\"csrf\""), "\(crossSite)")
        XCTAssertEqual(crossSite["stateAfter"] as? String, "signed-in", "the cross-site sign-out did nothing")
        XCTAssertEqual(crossSite["batchesAfter"] as? Int, crossSite["batchesBefore"] as? Int)

        // 7. Richard's batch and upload, asked for by Jane.
        let ownership = try rig.driver("other_patients_ids.py", ["--owner", "richard@example.org", "--other", "jane@example.org"]).finish()
        let answers = ownership["answers"] as? [String: Int] ?? [:]
        XCTAssertEqual(answers.count, 7)
        for (request, status) in answers { XCTAssertEqual(status, 404, "\(request) of another patient's id") }
        XCTAssertEqual((ownership["errorBody"] as? [String: Any])?["error"] as? String, "batch.not-found")
        XCTAssertFalse((ownership["pageError"] as? String ?? "").isEmpty)
        XCTAssertEqual(ownership["ownerState"] as? String, "open")
        XCTAssertEqual(ownership["ownerOffset"] as? String, "500", "the owner's upload is as it was")

        // The edge's security events reached core's audit chain, and the chain holds.
        let events = try await rig.edgeEvents(including: [
            "edge.enrolment.completed", "edge.signin.throttled", "edge.account.locked", "edge.second-factor.recovery-code-used"])
        XCTAssertEqual(events.filter { $0 == "edge.enrolment.completed" }.count, 2, "\(events)")
        XCTAssertGreaterThanOrEqual(events.filter { $0 == "edge.account.locked" }.count, 2, "\(events)")
        let unlocksPushed = try await rig.count("SELECT count(*) FROM audit WHERE event_type = 'link.unlock-pushed'")
        XCTAssertEqual(unlocksPushed, 1)
        let verify = try rig.portal(["audit", "verify"])
        XCTAssertTrue(verify.stdoutText.hasPrefix("audit chain intact"), verify.stdoutText)
    }


    /// Scenarios 3, 4 and 9, each folder a batch sent through the folder picker: a disc with DICOMDIR, a viewer and
    /// autorun (left out by the page) reaches Orthanc under the hospital's Patient ID with its pixels as sent; a
    /// study of somebody else, ticked anyway, holds its batch and none of it reaches Orthanc; hostile files (a
    /// DICOM/PE polyglot, EICAR in a private element, a truncated file) never reach Orthanc as sent.
    func testFoldersSentFromTheBrowserReachThePACSOrAreHeld() async throws {
        let rig = try rig("uploads", uploads: true)
        let pacs = try XCTUnwrap(rig.pacs)
        try await rig.passkeyPatient(id: "H300", name: "MOUSE^MINNIE", birthDate: "19800214", email: "minnie@example.org")
        let folders = try rig.makeFolders(["disc", "other", "hostile"], name: "MOUSE^MINNIE", birthDate: "19800214")
        let disc = try XCTUnwrap(folders["disc"]), other = try XCTUnwrap(folders["other"]), hostile = try XCTUnwrap(folders["hostile"])
        let sent = try rig.driver("upload_folders.py", [
            "--email", "minnie@example.org", "--folder", "disc:\(disc.folder):matching", "--folder", "other:\(other.folder):all",
            "--folder", "hostile:\(hostile.folder):all"]).finish(seconds: 900)
        XCTAssertEqual(sent["consoleErrors"] as? [String], [])
        XCTAssertEqual((sent["homeList"] as? [String] ?? []).count, 3, "the home page lists the three uploads")
        let instances = try rig.orthancInstances(pacs)

        // 3. The disc: two studies of Minnie's, the viewer and autorun left out, DICOMDIR and images sent.
        let discSeen = sent["disc"] as? [String: Any] ?? [:]
        let discReview = discSeen["review"] as? [String: Any] ?? [:]
        let discRows = discReview["rows"] as? [[String: Any]] ?? []
        XCTAssertEqual(discRows.count, 2, "\(discReview)")
        XCTAssertTrue(discRows.allSatisfy { $0["ticked"] as? Bool == true && $0["flagged"] as? Bool == false }, "\(discRows)")
        let leftOut = (discReview["leftOut"] as? [String] ?? []).joined(separator: "\n")
        XCTAssertTrue(leftOut.contains("VIEWER.EXE") && leftOut.contains("AUTORUN.INF"), leftOut)
        // Named as the folder picker gives them: under the folder's own name.
        let picked = URL(fileURLWithPath: disc.folder).lastPathComponent + "/"
        XCTAssertEqual(discSeen["uploads"] as? [String], ([picked + "DICOMDIR"] + disc.files.map { picked + $0.path }).sorted())
        let discResult = discSeen["result"] as? [String: Any] ?? [:]
        let discState = try await rig.coreState(edgeBatch: discSeen["batch"] as? String ?? "")
        XCTAssertEqual(discState, "delivered")
        XCTAssertNotNil((discResult["receiptCode"] as? String ?? "").range(of: #"^[A-Z0-9]{4,}-[A-Z0-9]{4,}$"#, options: .regularExpression),
                        "\(discResult)")
        XCTAssertFalse((discResult["summary"] as? String ?? "").isEmpty)
        XCTAssertEqual((discResult["studies"] as? [[String]] ?? []).count, 2, "\(discResult)")
        for file in disc.files { try assertArrivedIntact(file, as: "H300", in: pacs, instances) }

        // 4. Richard's study: flagged in plain words and unticked; ticked anyway, the batch is held.
        let otherSeen = sent["other"] as? [String: Any] ?? [:]
        let otherRows = (otherSeen["review"] as? [String: Any])?["rows"] as? [[String: Any]] ?? []
        let flagged = otherRows.filter { $0["flagged"] as? Bool == true }
        XCTAssertEqual(flagged.count, 1, "\(otherRows)")
        XCTAssertEqual(flagged.first?["ticked"] as? Bool, false, "another patient's study is not ticked by default")
        XCTAssertTrue((flagged.first?["flag"] as? String ?? "").uppercased().contains("RICHARD ROE"), "the page names who they belong to: \(flagged)")
        let otherState = try await rig.coreState(edgeBatch: otherSeen["batch"] as? String ?? "")
        XCTAssertEqual(otherState, "held")
        let otherResult = otherSeen["result"] as? [String: Any] ?? [:]
        let heldWords = (otherResult["studies"] as? [[String]] ?? []).flatMap { $0 }.joined(separator: " ") + " " + (otherResult["summary"] as? String ?? "")
        XCTAssertTrue(heldWords.lowercased().contains("patient"), "the result page says why: \(otherResult)")
        for file in other.files where file.patientName != "MOUSE^MINNIE" {
            XCTAssertNil(instances[file.sopInstanceUID], "\(file.path) (another patient's) reached Orthanc")
        }
        for file in other.files where file.patientName == "MOUSE^MINNIE" {
            print("the held batch's study of Minnie herself: \(instances[file.sopInstanceUID] == nil ? "not delivered" : "delivered")")
        }

        // 9. Hostile files: none reaches Orthanc as sent; what arrives is clean; the result page explains.
        let hostileSeen = sent["hostile"] as? [String: Any] ?? [:]
        XCTAssertEqual((hostileSeen["uploads"] as? [String] ?? []).count, hostile.files.count, "the page sends them all: the back end judges")
        let hostileResult = hostileSeen["result"] as? [String: Any] ?? [:]
        let hostileState = try await rig.coreState(edgeBatch: hostileSeen["batch"] as? String ?? "")
        print("hostile batch: core \(hostileState ?? "?"), page \(hostileResult)")
        let eicar = Data(("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").utf8)
        for file in hostile.files {
            for id in instances[file.sopInstanceUID] ?? [] {
                let stored = try pacs.bytes("/instances/\(id)/file")
                XCTAssertNotEqual(sha256(stored), file.fileSHA256, "\(file.path) reached Orthanc as sent")
                XCTAssertTrue(stored.prefix(128).allSatisfy { $0 == 0 }, "\(file.path): a preamble that is not empty")
                XCTAssertNil(stored.range(of: eicar), "\(file.path) holds EICAR")
                XCTAssertNil(stored.range(of: Data([0x50, 0x45, 0, 0, 0x4C, 0x01])), "\(file.path) holds a PE header")
            }
            if file.expect == "refused" { XCTAssertNil(instances[file.sopInstanceUID], "\(file.path) reached Orthanc") }
            if file.expect == "delivered" { try assertArrivedIntact(file, as: "H300", in: pacs, instances) }
        }
        XCTAssertTrue((hostileResult["summary"] as? String ?? "").contains("refused for safety"), "the result page counts the refused file: \(hostileResult)")
        let hostileNotes = (hostileResult["studies"] as? [[String]] ?? []).flatMap { $0 }.joined(separator: "\n")
        XCTAssertTrue(hostileNotes.contains("program") && hostileNotes.contains("Malware"), "the result page explains: \(hostileNotes)")
        let verify = try rig.portal(["audit", "verify"])
        XCTAssertTrue(verify.stdoutText.hasPrefix("audit chain intact"), verify.stdoutText)
    }

    /// Scenario 8: the edge SIGKILLed while a ~40 MB file is sent (between 20 and 80 %), started again; the page
    /// reloaded and the folder picked again: the upload continues where the edge's staging has it (never from 0
    /// again, the same tus upload) and the image arrives once, intact.
    func testTheEdgeKilledMidUploadTheBrowserResumes() async throws {
        let rig = try rig("resume", uploads: true, edge: "chunk_size = 1048576")
        let pacs = try XCTUnwrap(rig.pacs)
        try await rig.passkeyPatient(id: "H400", name: "DUCK^DAISY", birthDate: "19900704", email: "daisy@example.org")
        let large = try XCTUnwrap(try rig.makeFolders(["large"], name: "DUCK^DAISY", birthDate: "19900704")["large"])
        let driver = try rig.driver("resume_after_kill.py", ["--email", "daisy@example.org", "--folder", large.folder])
        XCTAssertTrue(driver.waitStep("progress", seconds: 400), driver.output)
        rig.killEdge()
        try rig.startEdge()
        driver.go("edge-restarted")
        let resumed = driver.finish(seconds: 900)
        print("percent at the kill: \(resumed["percentAtKill"] ?? "?"), the page said: \(resumed["progressShown"] ?? "?")")
        let length = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: large.folder + "/" + large.files[0].path)[.size] as? Int)
        let offsets = resumed["offsetsAfterRestart"] as? [Int] ?? []
        XCTAssertEqual(offsets.count, 1, "\(resumed)")
        XCTAssertGreaterThan(offsets.first ?? 0, 0, "the edge kept what it had staged through the kill")
        XCTAssertEqual((resumed["patchOffsets"] as? [Int] ?? []).filter { $0 == 0 }.count, 1, "the file was never sent from 0 again: \(resumed)")
        if let first = resumed["firstOffsetAfterReload"] as? Int { XCTAssertGreaterThan(first, 0, "the reloaded page resumed") }
        let uploads = resumed["uploads"] as? [[String: Any]] ?? []
        XCTAssertEqual(uploads.count, 1, "one tus upload, continued: \(uploads)")
        XCTAssertEqual(uploads.first?["length"] as? Int, length)
        XCTAssertEqual(resumed["returnedBatch"] as? String, resumed["batch"] as? String)
        let resumedState = try await rig.coreState(edgeBatch: resumed["batch"] as? String ?? "")
        XCTAssertEqual(resumedState, "delivered")
        try assertArrivedIntact(large.files[0], as: "H400", in: pacs, try rig.orthancInstances(pacs))
        let coreUploads = try await rig.count("SELECT count(*) FROM uploads")
        XCTAssertEqual(coreUploads, 1, "core took the file once")
    }
}

extension PatientPortalBrowserTests {
    /// The value of (7FE0,0010) as the last element of an explicit VR little endian file, with a defined length (what
    /// the fixtures' native images are, and stay through the Protector), or nil.
    func pixelData(of file: Data) -> Data? {
        let bytes = [UInt8](file)
        var index = 132
        while index + 12 <= bytes.count {
            if bytes[index] == 0xE0, bytes[index + 1] == 0x7F, bytes[index + 2] == 0x10, bytes[index + 3] == 0x00,
               (bytes[index + 4], bytes[index + 5]) == (0x4F, 0x57) || (bytes[index + 4], bytes[index + 5]) == (0x4F, 0x42) {
                let length = Int(bytes[index + 8]) | Int(bytes[index + 9]) << 8 | Int(bytes[index + 10]) << 16 | Int(bytes[index + 11]) << 24
                let start = index + 12
                if length != 0xFFFF_FFFF, start + length == bytes.count { return Data(bytes[start..<(start + length)]) }
            }
            index += 1
        }
        return nil
    }

    func sha256(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    /// A file Orthanc holds arrived as the patient's (the hospital's Patient ID by IRWF coercion, the other
    /// facility's kept), its pixels as sent.
    func assertArrivedIntact(_ file: PatientPortalRig.SentFile, as patientID: String, in pacs: OrthancPeer, _ instances: [String: [String]],
                             line: UInt = #line) throws {
        let ids = instances[file.sopInstanceUID] ?? []
        XCTAssertEqual(ids.count, 1, "\(file.path) arrives once", line: line)
        guard let id = ids.first else { return }
        let tags = try pacs.get("/instances/\(id)/simplified-tags") as? [String: Any] ?? [:]
        XCTAssertEqual(tags["PatientID"] as? String, patientID, "\(file.path)", line: line)
        XCTAssertTrue("\(tags)".contains("EXT-4711"), "the other facility's Patient ID is kept: \(tags)", line: line)
        XCTAssertEqual(tags["IssuerOfPatientID"] as? String ?? "", "", "the other facility's issuer is not left beside our ID", line: line)
        if let pixels = file.pixelSHA256 {
            let stored = pixelData(of: try pacs.bytes("/instances/\(id)/file"))
            XCTAssertEqual(stored.map(sha256), pixels, "\(file.path): the pixel data as sent", line: line)
        }
    }

}
