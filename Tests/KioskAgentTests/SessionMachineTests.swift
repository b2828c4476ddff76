import AgentConfiguration
import TestSupport
import XCTest
@testable import KioskAgent

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
        XCTAssertEqual(machine.state, .idle)
    }

    func testRemovalMidReadFailsTheSessionAndTheNextDiscWorks() throws {
        var machine = M()
        _ = try machine.handle(.mediaInserted(stick))
        _ = try machine.handle(.readProgress(M.Progress(files: 3, totalFiles: 40)))
        XCTAssertEqual(try machine.handle(.mediaRemoved(device: "/dev/sdb1")).first, .cancelWork(stick))
        XCTAssertEqual(machine.state, .removedMidRead(stick))
        XCTAssertThrowsError(try machine.handle(.readProgress(M.Progress())), "late progress is ignored")
        _ = try machine.handle(.acknowledged)
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
        XCTAssertEqual(machine.state, .idle)
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
