import DICOMCore
import Foundation
import TestSupport
import XCTest

/// `kiosk-agent ingest` end to end, on media images made by the real tools.
final class IngestTests: XCTestCase {
    private func files(_ report: [String: Any]) -> [[String: Any]] { report["files"] as? [[String: Any]] ?? [] }
    private func totals(_ report: [String: Any]) -> [String: Int] { report["totals"] as? [String: Int] ?? [:] }

    private func ingest(_ source: String, _ dir: TestSupport.TemporaryDirectory, _ extra: [String] = [],
                        report name: String = "report.json") throws -> (TestSupport.ToolResult, [String: Any]) {
        let result = try IngestFixtures.agent(["ingest", source, "--state-dir", dir.path("state"),
                                               "--report", dir.path(name)] + extra)
        return (result, try IngestFixtures.report(dir.path(name)))
    }

    func testISOWithDICOMDIRAndViewerIsImportedAndReingestDuplicatesNothing() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-iso")
        let tree = try IngestFixtures.makeTree(in: dir)
        let image = try IngestFixtures.iso(tree, in: dir)
        let (result, report) = try ingest(image, dir)
        XCTAssertEqual(result.status, 0, result.stderrText)
        XCTAssertEqual((report["source"] as? [String: Any])?["filesystem"] as? String, "iso9660")
        XCTAssertEqual((report["source"] as? [String: Any])?["label"] as? String, "PATIENT_CD")
        let t = totals(report)
        XCTAssertEqual(t["dicom"], tree.dicom.count)
        XCTAssertEqual(t["delivered"], tree.dicom.count)
        XCTAssertEqual(t["rejected"], 0)
        // VIEWER.EXE, AUTORUN.INF, INDEX.HTM, README.TXT and the DICOMDIR itself.
        XCTAssertEqual(t["discarded"], 5)
        let kinds = Dictionary(files(report).map { (($0["path"] as? String ?? "").uppercased(), $0["kind"] as? String ?? "") },
                               uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(kinds["/VIEWER/VIEWER.EXE"], "executable")
        XCTAssertEqual(kinds["/AUTORUN.INF"], "autorun")
        XCTAssertEqual(kinds["/INDEX.HTM"], "web")
        XCTAssertEqual(kinds["/DICOMDIR"], "dicomdir")
        // Files the DICOMDIR does not list were found by the walk and said so.
        let unlisted = files(report).filter { ($0["findings"] as? [[String: Any]] ?? []).contains { $0["code"] as? String == "dicomdir.unlisted-file" } }
        XCTAssertEqual(unlisted.count, IngestFixtures.validFiles.count)
        XCTAssertTrue(result.stderrText.contains("study(ies)"), result.stderrText)

        // Archive: one rebuilt file per instance, readable by an independent reader.
        let archived = try archivedFiles(dir)
        XCTAssertEqual(archived.count, tree.dicom.count)
        for file in archived.prefix(5) {
            try TestSupport.run("dcmdump", ["-q", file])
        }

        let (again, second) = try ingest(image, dir, report: "again.json")
        XCTAssertEqual(again.status, 0, again.stderrText)
        XCTAssertEqual(totals(second)["delivered"], tree.dicom.count)
        XCTAssertEqual(try archivedFiles(dir).count, tree.dicom.count)
    }

    func testFATImageAndDirectoryGiveTheSameInstances() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-fat")
        let tree = try IngestFixtures.makeTree(in: dir)
        let image = try IngestFixtures.fat(tree, in: dir)
        let (fat, fatReport) = try ingest(image, dir, report: "fat.json")
        XCTAssertEqual(fat.status, 0, fat.stderrText)
        XCTAssertEqual((fatReport["source"] as? [String: Any])?["filesystem"] as? String, "vfat")
        XCTAssertEqual(totals(fatReport)["delivered"], tree.dicom.count)

        let (plain, dirReport) = try ingest(tree.root.path, dir, ["--state-dir", dir.path("state2")], report: "dir.json")
        XCTAssertEqual(plain.status, 0, plain.stderrText)
        XCTAssertEqual((dirReport["source"] as? [String: Any])?["filesystem"] as? String, "directory")
        let uids = { (report: [String: Any]) in Set(self.files(report).compactMap { $0["sopInstanceUID"] as? String }) }
        XCTAssertEqual(uids(fatReport), uids(dirReport))
    }

    /// A USB stick as a whole-disk image: an MBR, then a FAT partition at 1 MiB.
    func testPartitionedStickIsReadFromItsFATPartition() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-mbr")
        let tree = try IngestFixtures.makeTree(in: dir, extraDICOM: ["CT_small.dcm", "rtplan.dcm"], withDICOMDIR: false)
        let partition = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try IngestFixtures.fat(tree, in: dir))))
        var disk = [UInt8](repeating: 0, count: 1 << 20)
        let sectors = UInt32(partition.count / 512)
        let entry: [UInt8] = [0x00, 0, 0, 0, 0x0C, 0, 0, 0] + withUnsafeBytes(of: UInt32(2048).littleEndian, Array.init)
            + withUnsafeBytes(of: sectors.littleEndian, Array.init)
        disk.replaceSubrange(0x1BE..<0x1CE, with: entry)
        disk[510] = 0x55; disk[511] = 0xAA
        try Data(disk + partition).write(to: URL(fileURLWithPath: dir.path("disk.img")))
        let (result, report) = try ingest(dir.path("disk.img"), dir)
        XCTAssertEqual(result.status, 0, result.stderrText)
        XCTAssertEqual((report["source"] as? [String: Any])?["filesystem"] as? String, "vfat")
        XCTAssertEqual(totals(report)["delivered"], 2)
        let notes = ((report["media"] as? [String: Any])?["findings"] as? [[String: Any]] ?? []).compactMap { $0["detail"] as? String }
        XCTAssertTrue(notes.contains { $0.contains("offset 1048576") }, "\(notes)")
    }

    func testRebuiltFilesKeepEveryPublicElementAndPixelData() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-lossless")
        let tree = try IngestFixtures.makeTree(in: dir, withDICOMDIR: false)
        let (result, report) = try ingest(tree.root.path, dir)
        XCTAssertEqual(result.status, 0, result.stderrText)
        // pydicom compares each original with its rebuilt file: every public data-set element
        // except retired group lengths and Data Set Trailing Padding, Pixel Data byte for byte.
        var pairs: [String] = []
        for file in files(report) where file["kind"] as? String == "dicom" {
            let original = tree.root.path + (file["path"] as? String ?? "")
            let rebuilt = try archivedFile(dir, sop: file["sopInstanceUID"] as? String ?? "")
            pairs += [original, rebuilt]
        }
        let check = try TestSupport.python("""
            import sys, pydicom
            args = sys.argv[1:]
            bad = []
            for a, b in zip(args[0::2], args[1::2]):
                x = pydicom.dcmread(a, force=True); y = pydicom.dcmread(b)
                def public(ds):
                    return {e.tag: e for e in ds if not e.tag.is_private and e.tag.element != 0 and e.tag != 0xFFFCFFFC}
                px, py = public(x), public(y)
                if set(px) != set(py): bad.append((a, 'tags', set(px) ^ set(py)))
                for t in px:
                    if t in py and px[t].value != py[t].value: bad.append((a, str(t)))
                if x.file_meta.TransferSyntaxUID != '1.2.840.10008.1.2.1.99':
                    assert x.file_meta.TransferSyntaxUID == y.file_meta.TransferSyntaxUID, a
                assert y.preamble == b'\\0' * 128
            print(len(args) // 2, 'compared'); print(bad)
            sys.exit(1 if bad else 0)
            """, pairs)
        XCTAssertTrue(check.stdoutText.hasPrefix("\(pairs.count / 2) compared"), check.stdoutText)
    }

    /// Files over `in_memory_file_limit` stream from the media (deferred values copied on write):
    /// same archive result, bit for bit, as the in-memory path.
    func testLargeFilesStreamFromTheMedia() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-stream")
        let big = try TestSupport.pydicomDataFiles().appendingPathComponent("RG1_UNCI.dcm")
        let root = dir.url.appendingPathComponent("disc/DICOM")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: big, to: root.appendingPathComponent("IM1"))
        let image = try IngestFixtures.iso(IngestFixtures.Tree(root: dir.url.appendingPathComponent("disc"), dicom: ["DICOM/IM1"]), in: dir)
        try Data("[limits]\nin_memory_file_limit = 1048576\n".utf8).write(to: dir.url.appendingPathComponent("small.toml"))
        let streamed = try IngestFixtures.agent(["ingest", image, "--state-dir", dir.path("a"), "--config", dir.path("small.toml")])
        let inMemory = try IngestFixtures.agent(["ingest", image, "--state-dir", dir.path("b")])
        XCTAssertEqual(streamed.status, 0, streamed.stderrText)
        XCTAssertEqual(inMemory.status, 0, inMemory.stderrText)
        func archived(_ state: String) throws -> Data {
            let archive = dir.url.appendingPathComponent("\(state)/archive")
            let file = try XCTUnwrap(FileManager.default.enumerator(atPath: archive.path)?.allObjects.compactMap { $0 as? String }
                .first { $0.hasSuffix(".dcm") })
            return try Data(contentsOf: archive.appendingPathComponent(file))
        }
        let a = try archived("a"), b = try archived("b")
        XCTAssertGreaterThan(a.count, 7_000_000)
        XCTAssertEqual(a, b)
    }

    func testBrokenFilesAreQuarantinedAndTheRestImported() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-broken")
        let tree = try IngestFixtures.makeTree(in: dir, extraDICOM: ["CT_small.dcm", "MR_truncated.dcm", "rtplan_truncated.dcm"],
                                               withDICOMDIR: false)
        let (result, report) = try ingest(tree.root.path, dir)
        XCTAssertEqual(result.status, 3, result.stderrText)
        let t = totals(report)
        XCTAssertEqual(t["delivered"], 1)
        XCTAssertEqual(t["rejected"], 2)
        for file in files(report) where file["verdict"] as? String == "rejected" {
            let codes = (file["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            XCTAssertTrue(codes.contains { $0.hasPrefix("structure.") }, "\(codes)")
        }
        let quarantine = dir.url.appendingPathComponent("state/quarantine")
        let kept = FileManager.default.enumerator(atPath: quarantine.path)?.allObjects.compactMap { $0 as? String }
            .filter { $0.hasSuffix("EXTRA1") || $0.hasSuffix("EXTRA2") } ?? []
        XCTAssertEqual(kept.count, 2, "originals of rejected files are kept in quarantine")
        let sessions = try FileManager.default.contentsOfDirectory(atPath: quarantine.path)
        XCTAssertEqual(sessions.count, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: quarantine.appendingPathComponent(sessions[0]).appendingPathComponent("report.json").path),
                      "with the session's report beside them")
        XCTAssertFalse(try archivedFiles(dir).contains { $0.contains("quarantine") })
    }

    func testIdentityMismatchHoldsEverything() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-identity")
        let tree = try IngestFixtures.makeTree(in: dir, extraDICOM: ["CT_small.dcm"], withDICOMDIR: false)
        let (result, report) = try ingest(tree.root.path, dir, ["--patient-id", "SOMEONE-ELSE"])
        XCTAssertEqual(result.status, 4, result.stderrText)
        XCTAssertEqual(totals(report)["delivered"], 0)
        XCTAssertEqual((report["studies"] as? [[String: Any]])?.first?["identity"] as? String, "mismatch")
        XCTAssertEqual(try archivedFiles(dir).count, 0)

        // Delivered only by an explicit override, which the report records.
        let (overridden, second) = try ingest(tree.root.path, dir, ["--patient-id", "SOMEONE-ELSE", "--override-identity", "name change after marriage, ID checked"],
                                              report: "override.json")
        XCTAssertEqual(overridden.status, 0, overridden.stderrText)
        XCTAssertEqual(second["identityOverride"] as? String, "name change after marriage, ID checked")
        XCTAssertEqual(totals(second)["delivered"], 1)
        let codes = files(second).flatMap { ($0["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String } }
        XCTAssertTrue(codes.contains("identity.override"), "\(codes)")
        XCTAssertEqual(try archivedFiles(dir).count, 1)
        let bare = try IngestFixtures.agent(["ingest", tree.root.path, "--override-identity", "because", "--state-dir", dir.path("state")])
        XCTAssertEqual(bare.status, 2, "an override without an expected patient is a usage error")
    }

    func testUnreadableMediaExitsFive() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-garbage")
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try Data(noise).write(to: dir.url.appendingPathComponent("noise.img"))
        let (result, report) = try ingest(dir.path("noise.img"), dir)
        XCTAssertEqual(result.status, 5, result.stderrText)
        let codes = ((report["media"] as? [String: Any])?["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
        XCTAssertEqual(codes, ["media.unreadable"])
    }

    func testReconciliationDeliversUnderTheHospitalsIdentifiers() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-reconcile")
        let tree = try IngestFixtures.makeTree(in: dir, extraDICOM: ["CT_small.dcm", "MR_small.dcm"], withDICOMDIR: false)
        // Two patients on the disc; the desk names the CT's (with the hospital's own ID).
        let (result, report) = try ingest(tree.root.path, dir, ["--reconcile", "--patient-id", "LOCAL123",
                                                                "--patient-name", "CompressedSamples^CT1", "--accession", "A-9"])
        XCTAssertEqual(result.status, 4, "the MR belongs to someone else: \(result.stderrText)")
        let mediaCodes = ((report["media"] as? [String: Any])?["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
        XCTAssertTrue(mediaCodes.contains("identity.multiple-patients"), "\(mediaCodes)")
        let archived = try archivedFiles(dir)
        XCTAssertEqual(archived.count, 1)
        let rebuilt = try DICOMReader.read(InMemoryByteSource([UInt8](try Data(contentsOf: URL(fileURLWithPath: archived[0])))))
        XCTAssertEqual(rebuilt.dataSet.string(Tag.patientID), "LOCAL123")
        XCTAssertEqual(rebuilt.dataSet.string(Tag(0x0008, 0x0050)), "A-9")
        XCTAssertEqual(rebuilt.dataSet[Tag(0x0010, 0x1002)]?.items?.last?.dataSet.string(Tag.patientID), "1CT1", "appended to the IDs it had")
        let studies = report["studies"] as? [[String: Any]] ?? []
        XCTAssertTrue(studies.contains { $0["patientID"] as? String == "LOCAL123" && $0["identity"] as? String == "match"
                                         && $0["identityScore"] as? Int == 100 && ($0["identityReasons"] as? [String]) == ["name matches"] }, "\(studies)")
        let bad = try IngestFixtures.agent(["ingest", tree.root.path, "--reconcile", "--state-dir", dir.path("state")])
        XCTAssertEqual(bad.status, 2, "reconciliation without the hospital's ID is a usage error")
    }

    func testUsageErrorsExitTwo() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-usage")
        try Data("[limits]\nmax_depth = 3\n".utf8).write(to: dir.url.appendingPathComponent("bad.toml"))
        // A source that exists, so that each case fails for its own reason.
        try FileManager.default.createDirectory(at: dir.url.appendingPathComponent("x"), withIntermediateDirectories: true)
        let missing = try IngestFixtures.agent(["ingest", dir.path("nonexistent"), "--state-dir", dir.path("state")])
        XCTAssertEqual(missing.status, 2, "a mistyped path is a usage error, not an unreadable medium: \(missing.stderrText)")
        XCTAssertTrue(missing.stderrText.contains("no such file or directory: \(dir.path("nonexistent"))"), missing.stderrText)
        for arguments in [["ingest", dir.path("x"), "--destination", "ftp://nowhere"],
                          ["ingest", dir.path("x"), "--birth-date", "1970-01-01"],
                          ["ingest", dir.path("x"), "--destination", "dicom://no-called-ae:104"],
                          ["ingest", dir.path("x"), "--destination", "dicom://PACS@h:104", "--calling-ae", "A\\B"],
                          ["ingest", dir.path("x"), "--config", dir.path("bad.toml")],
                          ["ingest"]] {
            let result = try IngestFixtures.agent(arguments + ["--state-dir", dir.path("state")])
            XCTAssertEqual(result.status, 2, "\(arguments): \(result.stderrText)")
        }
    }

    /// An empty directory, and a medium with nothing but a viewer, are not "all DICOM delivered".
    func testAMediumWithoutDICOMSaysNoDICOMFound() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-empty")
        let empty = dir.url.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let (result, report) = try ingest(empty.path, dir)
        XCTAssertEqual(result.status, 0, "nothing failed, nothing waits: \(result.stderrText)")
        XCTAssertFalse(result.stderrText.contains("all DICOM delivered"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("result: no DICOM files found, nothing imported (exit 0)"), result.stderrText)
        XCTAssertTrue(result.stderrText.contains("the medium holds no files"), result.stderrText)
        let findings = (report["media"] as? [String: Any])?["findings"] as? [[String: Any]] ?? []
        XCTAssertTrue(findings.contains { $0["code"] as? String == "media.no-dicom" }, "\(findings)")
        XCTAssertEqual(totals(report)["dicom"], 0)

        // Only what a disc carries besides images: named, and the receipt says no images were found.
        let tree = try IngestFixtures.makeTree(in: dir, extraDICOM: [], withDICOMDIR: false)
        let image = try IngestFixtures.iso(tree, in: dir)
        let (viewer, viewerReport) = try ingest(image, dir, report: "viewer.json")
        XCTAssertEqual(viewer.status, 0, viewer.stderrText)
        XCTAssertTrue(viewer.stderrText.contains("no DICOM files found among the 4 file(s) on the medium (1 autorun, 1 document, 1 executable, 1 web)"),
                      viewer.stderrText)
        let code = try XCTUnwrap(viewerReport["lookupCode"] as? String)
        let receipt = try IngestFixtures.agent(["receipt", "show", code, "--state-dir", dir.path("state")])
        let words = receipt.stdoutText.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssertTrue(words.contains("No medical images (DICOM files) were found on this disc; nothing was imported."), words)
    }

    /// The summary gives the receipt's code with the command that shows it, tells routine clean-up
    /// of vendor data from a threat removed, and names the state directory.
    func testTheSummaryNamesTheReceiptRoutineCleanUpAndTheStateDirectory() throws {
        let dir = try TestSupport.TemporaryDirectory("ingest-summary")
        // CT_small is a GE file: private blocks, a TIFF preamble, Data Set Trailing Padding.
        let tree = try IngestFixtures.makeTree(in: dir, extraDICOM: ["CT_small.dcm"], withDICOMDIR: false)
        try IngestFixtures.writeInfectedCT(to: tree.root.appendingPathComponent("DICOM/INFECTED").path)
        let state = dir.path("my state")
        let result = try IngestFixtures.agent(["ingest", tree.root.path, "--state-dir", state, "--report", dir.path("report.json")])
        let report = try IngestFixtures.report(dir.path("report.json"))
        XCTAssertEqual(totals(report)["disarmed"], 2, result.stderrText)
        XCTAssertEqual(totals(report)["routineCleanup"], 1, "additive: how many of the disarmed lost only routine clean-up")
        let code = try XCTUnwrap(report["lookupCode"] as? String)
        let text = result.stderrText
        XCTAssertTrue(text.contains("Receipt code: \(code) — `kiosk-agent receipt show \(code) --state-dir '\(state)'`"), text)
        XCTAssertTrue(text.contains("1 image: vendor-private data, padding and a TIFF header removed as usual (not a threat)"), text)
        XCTAssertTrue(text.contains("1 image(s): something unsafe or broken was removed"), text)
        XCTAssertTrue(text.contains("state directory: \(state) (from --state-dir)"), text)
        XCTAssertEqual(Array(report["files"] as? [[String: Any]] ?? []).filter { $0["verdict"] as? String == "disarmed" }.count, 2,
                       "the report's verdicts stay disarmed")

        // The receipt says the same in words, and the code shown finds it.
        let shown = try IngestFixtures.agent(["receipt", "show", code, "--state-dir", state])
        XCTAssertEqual(shown.status, 0, shown.stderrText)
        XCTAssertTrue(shown.stderrText.contains("state directory: \(state) (from --state-dir)"), shown.stderrText)
        let words = shown.stdoutText.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssertTrue(words.contains("1 image: vendor-private data, padding and a TIFF header removed as usual (not a threat)."), words)
        XCTAssertTrue(words.contains("Private manufacturer data was removed, as on every import (routine, not a threat)."), words)
        XCTAssertTrue(words.contains("routine, not a threat)"), words)
    }

    // MARK: helpers

    private func archivedFiles(_ dir: TestSupport.TemporaryDirectory) throws -> [String] {
        let archive = dir.url.appendingPathComponent("state/archive")
        return (FileManager.default.enumerator(atPath: archive.path)?.allObjects.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix(".dcm") }.map { archive.appendingPathComponent($0).path }
    }

    private func archivedFile(_ dir: TestSupport.TemporaryDirectory, sop: String) throws -> String {
        try XCTUnwrap(try archivedFiles(dir).first { $0.hasSuffix("/\(sop).dcm") }, "no archived file for \(sop)")
    }
}
