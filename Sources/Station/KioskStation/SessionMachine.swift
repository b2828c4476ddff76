import Foundation
import IngestPipeline
import HelperProtocol
import SessionReport

/// The kiosk's session for one drive, as data (issue 5 §2): states, the events that move between
/// them, and the effects the service must carry out. No I/O here: the service feeds events in and
/// performs the effects; tests drive it directly.
///
///     idle → mediaDetected → reading → confirmingPatient → protecting → reviewing → delivering → done
///          → awaitingRemoval → idle
///
/// with the error states `unreadable`, `removedMidRead`, `heldForReview` (identity mismatch) and
/// `spooled` (destination down: safe, delivered later). Every state but `idle` belongs to one medium.
/// A session that ends (finished or cancelled) with its medium still in the drive waits for it to
/// be taken out — or read again — rather than asking for a medium that is already there.
public struct SessionMachine: Equatable, Sendable {
    /// A medium in a drive, as udev named it.
    public struct Medium: Equatable, Hashable, Sendable {
        public var device: String          // /dev/sr0, /dev/sdb1, /dev/loop3
        public var kind: Kind
        public var label: String

        public enum Kind: String, Equatable, Sendable { case optical, usb, loop }
    }

    /// A patient found on the medium (from the DICOMDIR or the files' headers), for confirmation.
    /// A patient found on the medium, as the media helper lists them.
    public typealias Patient = HelperPatients.Patient

    /// Progress of a long step: files and bytes done out of the total.
    public struct Progress: Equatable, Sendable {
        public var files = 0, totalFiles = 0
        public var bytes: Int64 = 0, totalBytes: Int64 = 0
    }

    /// What the operator confirmed: the patient at the desk.
    public struct Confirmation: Equatable, Sendable {
        public var patientID: String
        public var patientName: String?
        public var birthDate: String?
        /// Set when the operator confirmed a second time although the media's patient differs.
        public var mismatchReason: String?

        /// Headless (`run --no-screen`) without an expected-patient source: identity is not
        /// checked, and the report records it as unverified.
        public static let unverified = Confirmation(patientID: "")

        public var isUnverified: Bool { patientID.isEmpty }
    }

    /// The Protector's result, for the review screen and the receipt.
    public struct Outcome: Equatable, Sendable {
        public var instances = 0
        public var clean = 0, disarmed = 0, rejected = 0, discarded = 0
        public var identityMismatch = false
        public var findings: [String] = []
        public var reportPath: String?
        /// Instances already in the spool when protection ended (the pipeline sends as it goes).
        public var spooled = 0
        /// The session's ID in the spool and the reports.
        public var sessionID: String?
        /// The receipt's lookup code, shown on the screen (a printer may not be set).
        public var lookupCode: String?
        /// Disarmed files split into routine clean-up and removals for cause.
        public var cleanup = Report.CleanupCounts()
    }

    public enum Delivery: Equatable, Sendable {
        case stored
        /// The destination did not take everything yet; the rest waits in the spool.
        case spooled(pending: Int)
    }

    public enum State: Equatable, Sendable {
        case idle
        case mediaDetected(Medium)
        case reading(Medium, Progress)
        case confirmingPatient(Medium, found: [Patient], mismatch: Confirmation?)
        case protecting(Medium, Confirmation, Progress)
        case reviewing(Medium, Confirmation, Outcome)
        case delivering(Medium, Confirmation, Outcome, Progress)
        case done(Medium, Outcome, Delivery)
        case unreadable(Medium, reason: String)
        case removedMidRead(Medium)
        case heldForReview(Medium, Outcome)
        case spooled(Medium, Outcome, pending: Int)
        /// The session is over (`cancelled` by the operator, or finished) and the medium is still in.
        case awaitingRemoval(Medium, cancelled: Bool)

        public var medium: Medium? {
            switch self {
            case .idle: nil
            case let .mediaDetected(m), let .reading(m, _), let .confirmingPatient(m, _, _), let .protecting(m, _, _),
                 let .reviewing(m, _, _), let .delivering(m, _, _, _), let .done(m, _, _), let .unreadable(m, _),
                 let .removedMidRead(m), let .heldForReview(m, _), let .spooled(m, _, _), let .awaitingRemoval(m, _): m
            }
        }

        /// No session holds the drives: a medium inserted now starts one.
        public var isFree: Bool {
            switch self {
            case .idle, .awaitingRemoval: true
            default: false
            }
        }

        /// A step is running on the medium: removing it now breaks the session.
        public var isBusy: Bool {
            switch self {
            case .mediaDetected, .reading, .protecting, .delivering: true
            default: false
            }
        }
    }

    public enum Event: Equatable, Sendable {
        case mediaInserted(Medium)
        case mediaRemoved(device: String)
        case readProgress(Progress)
        case inventoryRead([Patient])
        case readFailed(String)
        /// The operator typed or scanned a patient ID, or picked one of the patients found.
        case patientConfirmed(Confirmation)
        /// Headless without an expected-patient source: go on with identity unverified.
        case proceedUnverified
        case protectProgress(Progress)
        case protectionFinished(Outcome)
        case reviewAccepted
        case deliveryProgress(Progress)
        case deliveryFinished(Delivery)
        /// The operator took the disc (or pressed "done" on a USB stick / an error screen).
        case acknowledged
        /// The operator stops the session (only between steps, never mid-write).
        case cancel
        /// The operator reads the medium still in the drive once more, from the start.
        case readAgain
    }

    public enum Effect: Equatable, Sendable {
        case lockTray(String)
        case unlockTray(String)
        case eject(String)
        case startReading(Medium)
        case startProtecting(Medium, Confirmation)
        case startDelivering(Medium)
        case cancelWork(Medium)
        case printReceipt(Outcome, Delivery)
        /// Take a reviewed-and-cancelled session's instances out of the spool, unsent.
        case withdraw(session: String)
        /// An event for the audit trail (no patient data: counts and codes).
        case audit(String)
    }

    public struct InvalidEvent: Error, Equatable, CustomStringConvertible, Sendable {
        public let state: String
        public let event: String
        public var description: String { "\(event) is not expected while \(state)" }
    }

    public private(set) var state: State = .idle

    /// Moves the machine; returns the effects to carry out, in order. Events that do not apply to
    /// the current state (a progress report after a cancel, a second disc in another drive) throw
    /// `InvalidEvent` and change nothing.
    public mutating func handle(_ event: Event) throws -> [Effect] {
        switch (state, event) {
        // A medium left in the drive does not hold up the next one (udev reports a medium once
        // until it is removed, so an insertion here is a new one, or the old one put back).
        case let (.idle, .mediaInserted(medium)), let (.awaitingRemoval, .mediaInserted(medium)):
            state = .mediaDetected(medium)
            return [.lockTray(medium.device), .startReading(medium), .audit("media inserted: \(medium.kind.rawValue) \(medium.device)")]

        case let (current, .mediaRemoved(device)) where current.medium?.device == device:
            let medium = current.medium!
            if current.isBusy {
                state = .removedMidRead(medium)
                return [.cancelWork(medium), .audit("media removed during \(Self.name(current)): session failed, nothing partial delivered")]
            }
            state = .idle
            return [.audit("media removed")]

        case let (.mediaDetected(medium), .readProgress(progress)), let (.reading(medium, _), .readProgress(progress)):
            state = .reading(medium, progress)
            return []
        case let (.mediaDetected(medium), .inventoryRead(patients)), let (.reading(medium, _), .inventoryRead(patients)):
            state = .confirmingPatient(medium, found: patients, mismatch: nil)
            return [.unlockTray(medium.device), .audit("media read: \(patients.count) patient(s) found")]
        case let (.mediaDetected(medium), .readFailed(reason)), let (.reading(medium, _), .readFailed(reason)):
            state = .unreadable(medium, reason: reason)
            return [.unlockTray(medium.device), .audit("media unreadable")]

        case let (.confirmingPatient(medium, found, _), .patientConfirmed(confirmation)):
            // A patient ID that matches none found needs a second, recorded confirmation.
            let matches = found.isEmpty || found.contains { $0.id == confirmation.patientID }
            if !matches && confirmation.mismatchReason == nil {
                state = .confirmingPatient(medium, found: found, mismatch: confirmation)
                return [.audit("identity: the patient at the desk matches none on the media; second confirmation asked")]
            }
            state = .protecting(medium, confirmation, Progress())
            var effects: [Effect] = [.lockTray(medium.device), .startProtecting(medium, confirmation)]
            effects.append(.audit(confirmation.mismatchReason == nil ? "patient confirmed"
                                                                     : "patient confirmed despite mismatch, reason recorded"))
            return effects

        case let (.confirmingPatient(medium, _, _), .proceedUnverified):
            state = .protecting(medium, .unverified, Progress())
            return [.lockTray(medium.device), .startProtecting(medium, .unverified),
                    .audit("no expected patient (headless): identity unverified, recorded in the report")]

        case let (.protecting(medium, confirmation, _), .protectProgress(progress)):
            state = .protecting(medium, confirmation, progress)
            return []
        case let (.protecting(medium, confirmation, _), .protectionFinished(outcome)):
            if outcome.identityMismatch && confirmation.mismatchReason == nil {
                state = .heldForReview(medium, outcome)
                return [.unlockTray(medium.device), .audit("identity mismatch: held for review, nothing delivered")]
            }
            state = .reviewing(medium, confirmation, outcome)
            return [.unlockTray(medium.device), .audit("protected: \(outcome.instances) instance(s), \(outcome.rejected) rejected")]

        case let (.reviewing(medium, confirmation, outcome), .reviewAccepted):
            guard outcome.instances - outcome.rejected > 0 else {
                state = .done(medium, outcome, .stored)
                return [.eject(medium.device), .printReceipt(outcome, .stored), .audit("nothing to deliver")]
            }
            state = .delivering(medium, confirmation, outcome, Progress())
            return [.startDelivering(medium), .audit("delivery started")]

        case let (.delivering(medium, confirmation, outcome, _), .deliveryProgress(progress)):
            state = .delivering(medium, confirmation, outcome, progress)
            return []
        case let (.delivering(medium, _, outcome, _), .deliveryFinished(delivery)):
            if case let .spooled(pending) = delivery {
                state = .spooled(medium, outcome, pending: pending)
                return [.eject(medium.device), .printReceipt(outcome, delivery),
                        .audit("destination down: \(pending) instance(s) safe in the spool")]
            }
            state = .done(medium, outcome, delivery)
            return [.eject(medium.device), .printReceipt(outcome, delivery), .audit("delivered")]

        case (.removedMidRead, .acknowledged):
            state = .idle
            return [.audit("session closed")]
        case (.done, .acknowledged), (.spooled, .acknowledged), (.unreadable, .acknowledged), (.heldForReview, .acknowledged):
            let medium = state.medium!
            state = .awaitingRemoval(medium, cancelled: false)
            return [.eject(medium.device), .audit("session closed")]

        case (.confirmingPatient, .cancel):
            let medium = state.medium!
            state = .awaitingRemoval(medium, cancelled: true)
            return [.unlockTray(medium.device), .eject(medium.device), .audit("session cancelled by the operator")]
        case let (.reviewing(medium, _, outcome), .cancel):
            state = .awaitingRemoval(medium, cancelled: true)
            return (outcome.sessionID.map { [Effect.withdraw(session: $0)] } ?? [])
                + [.unlockTray(medium.device), .eject(medium.device), .audit("session cancelled by the operator at review; nothing sent")]

        case let (.awaitingRemoval(medium, _), .readAgain):
            state = .mediaDetected(medium)
            return [.lockTray(medium.device), .startReading(medium), .audit("media read again: \(medium.kind.rawValue) \(medium.device)")]

        default:
            throw InvalidEvent(state: Self.name(state), event: "\(event)".prefix(while: { $0 != "(" }).description)
        }
    }

    public static func name(_ state: State) -> String {
        "\(state)".prefix(while: { $0 != "(" }).description
    }
}

/// Sessions for several drives: one runs, the others wait their turn in arrival order.
public struct DriveQueue: Equatable, Sendable {
    public private(set) var active = SessionMachine()
    public private(set) var waiting: [SessionMachine.Medium] = []

    /// Routes an event; a medium inserted while a session runs waits. When the active session
    /// returns to idle, the next waiting medium starts.
    public mutating func handle(_ event: SessionMachine.Event) throws -> [SessionMachine.Effect] {
        switch event {
        case let .mediaInserted(medium) where !active.state.isFree:
            guard active.state.medium?.device != medium.device, !waiting.contains(medium) else { return [] }
            waiting.append(medium)
            return [.audit("media in \(medium.device) waits for the session in \(active.state.medium?.device ?? "?")")]
        case let .mediaRemoved(device) where active.state.medium?.device != device:
            let before = waiting.count
            waiting.removeAll { $0.device == device }
            return before == waiting.count ? [] : [.audit("waiting media removed from \(device)")]
        default:
            var effects = try active.handle(event)
            if active.state.isFree, !waiting.isEmpty {
                effects += try active.handle(.mediaInserted(waiting.removeFirst()))
            }
            return effects
        }
    }
}
