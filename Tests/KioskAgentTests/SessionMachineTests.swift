import AgentConfiguration
import OperatorAccess
import OperatorScreen
import SessionReport
import TestSupport
import XCTest
@testable import IngestPipeline
@testable import KioskAgent
@testable import KioskStation

/// The kiosk session as pure logic: every path of issue 5 §2, without a terminal or a drive.
final class SessionMachineTests: XCTestCase {
    typealias M = SessionMachine
    private let disc = M.Medium(device: "/dev/sr0", kind: .optical, label: "PATIENT_CD")
    private let stick = M.Medium(device: "/dev/sdb1", kind: .usb, label: "USBSTICK")
    private let doe = M.Patient(id: "PAT-001", name: "DOE^JANE", birthDate: "19700101", studies: 2)
    private var outcome: M.Outcome { M.Outcome(instances: 52, clean: 0, disarmed: 52, rejected: 0, discarded: 8) }

    func testTheWholeImportFromInsertToDone() throws {
        var machine = M()
        XCTAssertEqual(try machine.handle(.mediaInserted(disc)).filter { if case .audit = $0 { false } else { true } },
                       [.lockTray("/dev/sr0"), .startReading(disc)])
        _ = try machine.handle(.readProgress(M.Progress(files: 10, totalFiles: 60, bytes: 1, totalBytes: 10)))
        guard case .reading(_, let progress) = machine.state else { return XCTFail("\(machine.state)") }
        XCTAssertEqual(progress.files, 10)
        _ = try machine.handle(.inventoryRead([doe]))
        XCTAssertEqual(machine.state, .confirmingPatient(disc, found: [doe], mismatch: nil))
        let confirmation = M.Confirmation(patientID: "PAT-001")
        XCTAssertTrue(try machine.handle(.patientConfirmed(confirmation)).contains(.startProtecting(disc, confirmation)))
        _ = try machine.handle(.protectProgress(M.Progress(files: 30, totalFiles: 52)))
        _ = try machine.handle(.protectionFinished(outcome))
        XCTAssertEqual(machine.state, .reviewing(disc, confirmation, outcome))
        XCTAssertTrue(try machine.handle(.reviewAccepted).contains(.startDelivering(disc)))
        let effects = try machine.handle(.deliveryFinished(.stored))
        XCTAssertTrue(effects.contains(.eject("/dev/sr0")) && effects.contains(.printReceipt(outcome, .stored)))
        XCTAssertEqual(machine.state, .done(disc, outcome, .stored))
        _ = try machine.handle(.acknowledged)
        XCTAssertEqual(machine.state, .awaitingRemoval(disc, cancelled: false), "the disc is still in until udev says otherwise")
        _ = try machine.handle(.mediaRemoved(device: "/dev/sr0"))
        XCTAssertEqual(machine.state, .idle)
    }

    func testAPatientIDMatchingNoneFoundNeedsASecondRecordedConfirmation() throws {
        var machine = M()
        _ = try machine.handle(.mediaInserted(disc))
        _ = try machine.handle(.inventoryRead([doe]))
        let other = M.Confirmation(patientID: "PAT-999")
        _ = try machine.handle(.patientConfirmed(other))
        XCTAssertEqual(machine.state, .confirmingPatient(disc, found: [doe], mismatch: other), "asked again, nothing started")
        var second = other
        second.mismatchReason = "patient changed ID after marriage; verified with photo ID"
        XCTAssertTrue(try machine.handle(.patientConfirmed(second)).contains(.startProtecting(disc, second)))
        // With the recorded reason, a mismatch found by the Protector does not hold the study.
        var mismatched = outcome
        mismatched.identityMismatch = true
        _ = try machine.handle(.protectionFinished(mismatched))
        XCTAssertEqual(machine.state, .reviewing(disc, second, mismatched))
    }

    func testAnIdentityMismatchIsHeldForReviewAndNothingDelivered() throws {
        var machine = M()
        _ = try machine.handle(.mediaInserted(disc))
        _ = try machine.handle(.inventoryRead([doe]))
        _ = try machine.handle(.patientConfirmed(M.Confirmation(patientID: "PAT-001")))
        var mismatched = outcome
        mismatched.identityMismatch = true
        let effects = try machine.handle(.protectionFinished(mismatched))
        XCTAssertEqual(machine.state, .heldForReview(disc, mismatched))
        XCTAssertFalse(effects.contains { if case .startDelivering = $0 { true } else { false } })
        XCTAssertThrowsError(try machine.handle(.reviewAccepted), "no way to deliver from here")
        _ = try machine.handle(.acknowledged)
        XCTAssertEqual(machine.state, .awaitingRemoval(disc, cancelled: false))
    }

    func testRemovalMidReadFailsTheSessionAndTheNextDiscWorks() throws {
        var machine = M()
        _ = try machine.handle(.mediaInserted(stick))
        _ = try machine.handle(.readProgress(M.Progress(files: 3, totalFiles: 40)))
        XCTAssertEqual(try machine.handle(.mediaRemoved(device: "/dev/sdb1")).first, .cancelWork(stick))
        XCTAssertEqual(machine.state, .removedMidRead(stick))
        XCTAssertThrowsError(try machine.handle(.readProgress(M.Progress())), "late progress is ignored")
        _ = try machine.handle(.acknowledged)
        XCTAssertEqual(machine.state, .idle, "the stick is already out")
        _ = try machine.handle(.mediaInserted(disc))
        XCTAssertEqual(machine.state, .mediaDetected(disc))
        // Removed while waiting for the operator (nothing running): back to idle, no failure.
        _ = try machine.handle(.inventoryRead([doe]))
        _ = try machine.handle(.mediaRemoved(device: "/dev/sr0"))
        XCTAssertEqual(machine.state, .idle)
    }

    func testUnreadableMediaAndADestinationDown() throws {
        var machine = M()
        _ = try machine.handle(.mediaInserted(disc))
        _ = try machine.handle(.readFailed("no ISO 9660, UDF, FAT or exFAT file system"))
        XCTAssertEqual(machine.state, .unreadable(disc, reason: "no ISO 9660, UDF, FAT or exFAT file system"))
        _ = try machine.handle(.acknowledged)

        _ = try machine.handle(.mediaInserted(disc))
        _ = try machine.handle(.inventoryRead([doe]))
        _ = try machine.handle(.patientConfirmed(M.Confirmation(patientID: "PAT-001")))
        _ = try machine.handle(.protectionFinished(outcome))
        _ = try machine.handle(.reviewAccepted)
        let effects = try machine.handle(.deliveryFinished(.spooled(pending: 52)))
        XCTAssertEqual(machine.state, .spooled(disc, outcome, pending: 52))
        XCTAssertTrue(effects.contains(.printReceipt(outcome, .spooled(pending: 52))), "the receipt says it is safe and pending")
    }

    func testCancelOnlyBetweenStepsAndInvalidEventsChangeNothing() throws {
        var machine = M()
        XCTAssertThrowsError(try machine.handle(.reviewAccepted))
        XCTAssertEqual(machine.state, .idle)
        _ = try machine.handle(.mediaInserted(disc))
        XCTAssertThrowsError(try machine.handle(.cancel), "not while reading")
        _ = try machine.handle(.inventoryRead([doe]))
        XCTAssertEqual(try machine.handle(.cancel).prefix(2), [.unlockTray("/dev/sr0"), .eject("/dev/sr0")])
        XCTAssertEqual(machine.state, .awaitingRemoval(disc, cancelled: true))
    }

    /// After Cancel or Finish the medium is still in: the machine knows it, can read it again, and
    /// neither it nor a stale removal holds up the next medium.
    func testAfterCancelTheMediumIsStillInAndCanBeReadAgain() throws {
        var machine = M()
        _ = try machine.handle(.mediaInserted(stick))
        _ = try machine.handle(.inventoryRead([doe]))
        _ = try machine.handle(.patientConfirmed(M.Confirmation(patientID: "PAT-001")))
        var reviewed = outcome
        reviewed.sessionID = "s-1"
        _ = try machine.handle(.protectionFinished(reviewed))
        XCTAssertEqual(try machine.handle(.cancel).first, .withdraw(session: "s-1"))
        XCTAssertEqual(machine.state, .awaitingRemoval(stick, cancelled: true))
        XCTAssertThrowsError(try machine.handle(.acknowledged))
        XCTAssertEqual(try machine.handle(.readAgain).filter { if case .audit = $0 { false } else { true } },
                       [.lockTray("/dev/sdb1"), .startReading(stick)])
        XCTAssertEqual(machine.state, .mediaDetected(stick))
        _ = try machine.handle(.inventoryRead([doe]))
        _ = try machine.handle(.cancel)
        _ = try machine.handle(.mediaRemoved(device: "/dev/sdb1"))
        XCTAssertEqual(machine.state, .idle)

        // Left in one drive, a medium in another starts its session at once.
        var queue = DriveQueue()
        _ = try queue.handle(.mediaInserted(disc))
        _ = try queue.handle(.inventoryRead([doe]))
        _ = try queue.handle(.cancel)
        XCTAssertEqual(queue.active.state, .awaitingRemoval(disc, cancelled: true))
        XCTAssertTrue(try queue.handle(.mediaInserted(stick)).contains(.startReading(stick)))
        XCTAssertEqual(queue.active.state, .mediaDetected(stick))
        XCTAssertEqual(try queue.handle(.mediaRemoved(device: "/dev/sr0")), [], "the disc left behind goes quietly")
    }

    func testASecondDriveWaitsForTheFirstSession() throws {
        var queue = DriveQueue()
        _ = try queue.handle(.mediaInserted(disc))
        _ = try queue.handle(.mediaInserted(stick))
        XCTAssertEqual(queue.waiting, [stick])
        XCTAssertEqual(queue.active.state, .mediaDetected(disc))
        _ = try queue.handle(.readFailed("unreadable"))
        let effects = try queue.handle(.acknowledged)
        XCTAssertTrue(effects.contains(.startReading(stick)), "the waiting stick starts when the disc session ends")
        XCTAssertEqual(queue.active.state, .mediaDetected(stick))
        XCTAssertTrue(queue.waiting.isEmpty)
        // A waiting medium pulled out simply leaves the queue.
        _ = try queue.handle(.mediaInserted(disc))
        _ = try queue.handle(.mediaRemoved(device: "/dev/sr0"))
        XCTAssertTrue(queue.waiting.isEmpty)
    }
}

/// The patients the operator is asked to confirm, read from every DICOM file's header.
final class PatientInventoryTests: XCTestCase {
    /// The inventory runs in the media helper: the built agent, not this test runner.
    override func setUpWithError() throws {
        let binary = TestSupport.productsDirectory.appendingPathComponent("kiosk-agent").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("kiosk-agent binary not built at \(binary)") }
        HelperProcess.executable = binary
    }

    func testTheSampleDiscHasOnePatientWithTwoStudies() throws {
        let dir = try TestSupport.TemporaryDirectory("inventory")
        let disc = try DestinationTests.sampleDisc(dir, ct: 3, mr: 2)
        let found = try PatientInventory.read(disc, configuration: Configuration())
        XCTAssertEqual(found.patients, [SessionMachine.Patient(id: "KS123456", name: "DOE^JANE", birthDate: "19700101", studies: 2)])
        XCTAssertEqual(found.dicomFiles, 5)
    }

    func testADiscWithSeveralPatientsListsEachOnce() throws {
        let dir = try TestSupport.TemporaryDirectory("inventory-many")
        let tree = try IngestFixtures.makeTree(in: dir)
        let found = try PatientInventory.read(try IngestFixtures.iso(tree, in: dir), configuration: Configuration())
        XCTAssertGreaterThan(found.patients.count, 2, "\(found.patients)")
        XCTAssertEqual(Set(found.patients.map { "\($0.id)|\($0.name)|\($0.birthDate)" }).count, found.patients.count)
        XCTAssertThrowsError(try PatientInventory.read(dir.path("missing.iso"), configuration: Configuration()))
    }
}

/// The operator screen's words for the newcomer's stumbling blocks: routine clean-up is not a threat,
/// the receipt's code without a printer, a medium still in the drive, a disc without images, a
/// window too small.
final class ScreenWordsTests: XCTestCase {
    typealias M = SessionMachine
    private let disc = M.Medium(device: "/dev/sr0", kind: .optical, label: "PATIENT_CD")

    /// A controller with an operator signed in, through the real sign-in.
    private func signedIn(_ dir: TestSupport.TemporaryDirectory) throws -> ScreenController {
        let store = try OperatorStore(directory: dir.url.appendingPathComponent("operators"))
        let totp = try store.add("alice", pin: "402918")
        var controller = ScreenController(operators: store, idleTimeout: 600)
        for text in ["alice", "402918", totp.code(at: Date())] {
            for character in text { _ = controller.input(.character(character), state: .idle) }
            _ = controller.input(.submit, state: .idle)
        }
        XCTAssertEqual(controller.signedIn, "alice")
        return controller
    }

    private func text(_ model: ScreenModel) -> String { ([model.title] + model.lines.map(\.text)).joined(separator: "\n") }

    func testRoutineCleanUpIsSaidApartFromThreatsAndTheReceiptCodeIsShown() throws {
        let dir = try TestSupport.TemporaryDirectory("screen-words")
        let controller = try signedIn(dir)
        var report = Report(source: .init(path: "/dev/sr0", filesystem: "iso9660", label: "CD"))
        let routine = [Finding(.privateRemoved, .info, "12 element(s) of private block \"GEMS_IDEN_01\" removed"),
                       Finding(.structureTrailingData, .medium, "Data Set Trailing Padding was removed", element: "(FFFC,FFFC)")]
        report.files = (0..<52).map { FileRecord(path: "/IM\($0)", size: 1, kind: .dicom, verdict: .disarmed, findings: routine) }
            + [FileRecord(path: "/HOSTILE", size: 1, kind: .dicom, verdict: .disarmed,
                          findings: routine + [Finding(.executableEmbedded, .critical, "PE executable inside (0009,1010)")])]
        let outcome = M.Outcome(instances: 53, clean: 0, disarmed: 53, rejected: 0, discarded: 0, findings: KioskService.codes(report),
                                lookupCode: "7K3QX-M9P2D", cleanup: report.cleanupCounts)
        XCTAssertEqual(outcome.findings, ["executable.embedded"], "routine clean-up is not listed as a finding")
        let confirmation = M.Confirmation(patientID: "PAT-001")
        let review = text(controller.model(state: .reviewing(disc, confirmation, outcome), status: "", started: nil))
        XCTAssertTrue(review.contains("52 images: vendor-private data and padding removed as usual (not a threat)."), review)
        XCTAssertTrue(review.contains("1 image(s): something unsafe or broken was removed"), review)
        XCTAssertTrue(review.contains("A program hidden inside an image file was removed"), review)
        XCTAssertFalse(review.contains("Extra data after the end"), review)
        let done = text(controller.model(state: .done(disc, outcome, .stored), status: "", started: nil))
        XCTAssertTrue(done.contains("Receipt code: 7K3QX-M9P2D - `kiosk-agent receipt show 7K3QX-M9P2D`"), done)

        let nothing = text(controller.model(state: .done(disc, M.Outcome(discarded: 4), .stored), status: "", started: nil))
        XCTAssertTrue(nothing.contains("No images (DICOM files) were found on this disc."), nothing)
        XCTAssertFalse(nothing.contains("All images are in"), nothing)
        let refused = text(controller.model(state: .done(disc, M.Outcome(instances: 2, rejected: 2), .stored), status: "", started: nil))
        XCTAssertTrue(refused.contains("Nothing was imported.") && !refused.contains("All images are in"), refused)
    }

    func testAfterCancelTheScreenAsksToRemoveTheDiscOrStartAgain() throws {
        let dir = try TestSupport.TemporaryDirectory("screen-remove")
        var controller = try signedIn(dir)
        let state = M.State.awaitingRemoval(disc, cancelled: true)
        let model = controller.model(state: state, status: "", started: nil)
        XCTAssertEqual(model.title, "Remove the disc")
        XCTAssertTrue(text(model).contains("Disc still in the drive - remove it"), text(model))
        XCTAssertFalse(text(model).contains("Insert"), text(model))
        XCTAssertEqual(controller.input(.button("again"), state: state), [.readAgain])
        let stick = controller.model(state: .awaitingRemoval(M.Medium(device: "/dev/sdb1", kind: .usb, label: ""), cancelled: false), status: "", started: nil)
        XCTAssertEqual(stick.title, "Remove the USB stick")
        XCTAssertTrue(text(stick).contains("USB stick still plugged in"), text(stick))
    }

    /// Below the minimum size the request to enlarge fits whole: every line within the width, no
    /// more lines than rows, no word cut.
    func testTheEnlargeRequestFitsDownToTinyWindows() {
        let wordings = ["Please enlarge this window (44x16 at least).", "Please enlarge this window.", "Enlarge this window.",
                        "Enlarge window", "Enlarge", "Larger", "+"]
        for (columns, rows) in [(43, 16), (40, 12), (30, 10), (20, 6), (16, 4), (12, 3), (10, 2), (7, 1), (5, 5), (1, 1)] {
            let layout = Layout(ScreenModel(title: "Ready", lines: [.init("Insert the patient's disc or USB stick.")]), rows: rows, columns: columns)
            var lines: [String] = []
            for item in layout.items {
                guard case let .text(row, column, text, _, _) = item else { return XCTFail("\(columns)x\(rows): \(item)") }
                XCTAssertEqual(column, 0)
                XCTAssertEqual(row, lines.count)
                XCTAssertLessThanOrEqual(text.count, columns, "\(columns)x\(rows): \(text)")
                lines.append(text)
            }
            XCTAssertLessThanOrEqual(lines.count, rows, "\(columns)x\(rows): \(lines)")
            XCTAssertTrue(wordings.contains(lines.joined(separator: " ")), "\(columns)x\(rows): \(lines)")
        }
        let at40x12 = Layout(ScreenModel(title: "Ready"), rows: 12, columns: 40).items.compactMap { item -> String? in
            if case let .text(_, _, text, _, _) = item { text } else { nil }
        }
        XCTAssertEqual(at40x12, ["Please enlarge this window (44x16 at", "least)."])
    }
}
