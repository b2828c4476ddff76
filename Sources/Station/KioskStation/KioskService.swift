import AgentConfiguration
import AuditTrail
import Crypto
import Dashboard
import Delivery
import DICOMCore
import Foundation
import IngestPipeline
import MediaEvents
import MediaReader
import OperatorAccess
import OperatorScreen
import Protector
import ServiceLifecycle
import SessionReport

/// `kiosk-agent run`: media events from udev drive the session machine; its effects run the
/// ingest pipeline, eject discs and log what happened (counts and codes, no patient data). The
/// spool is retried in the background. With the operator screen, a signed-in operator confirms the
/// patient and the review; headless, identity is unverified (recorded) unless the configuration
/// requires an expected patient.
public actor KioskService: Service {
    public struct Settings: Sendable {
        public var destination: Destination
        public var configuration: Configuration
        public var stateDirectory: StateDirectory
        public var protector: Protector
        public var includeLoopDevices: Bool
        /// The operator store when the screen runs; nil = headless.
        public var operators: OperatorStore?
        /// The configuration file in use (its hash goes into the audit trail).
        public var configurationPath: String?

        public init(destination: Destination, configuration: Configuration, stateDirectory: StateDirectory, protector: Protector,
                    includeLoopDevices: Bool, operators: OperatorStore?, configurationPath: String?) {
            self.destination = destination
            self.configuration = configuration
            self.stateDirectory = stateDirectory
            self.protector = protector
            self.includeLoopDevices = includeLoopDevices
            self.operators = operators
            self.configurationPath = configurationPath
        }
    }

    /// Everything the event loop handles, in arrival order.
    public enum Incoming: Sendable {
        /// A session event, with the work generation that produced it (nil: udev or the service).
        case machine(SessionMachine.Event, Int?)
        case screen(ScreenInput)
        case tick
        /// systemd-udevd started or stopped answering (media are seen only while it runs).
        case udev(running: Bool)
    }

    private let settings: Settings
    private let notifier = SystemdNotifier()
    private let events: AsyncStream<Incoming>
    private let input: AsyncStream<Incoming>.Continuation
    private var controller: ScreenController?
    private var screen: OperatorScreen?
    /// When the running step began (for the ETA) and which step it is.
    private var stepStarted: Date?
    private var stepName = ""
    private var status = ""
    /// One spool for the whole service (status, reviews, background retries): opened once, so its
    /// crash recovery runs once, at start.
    private let spool: Spool?
    /// Bumped whenever work starts: a late result of cancelled work (a disc pulled out, then
    /// another inserted) carries an old generation and is dropped.
    private var generation = 0
    private var queue = DriveQueue()
    /// The running pipeline; only the event loop touches it.
    private var work: Task<Void, Never>?
    /// Set when the running pipeline's task has returned (a stop waits for it a little).
    private var workDone = DoneFlag()
    /// The session the pipeline is importing (its spool rows are withdrawn if the service stops before the review's "Send").
    private var sessionInProgress: String?
    private var udevRunning = true

    public init(settings: Settings, spool: Spool?) {
        self.settings = settings
        self.spool = spool
        (events, input) = AsyncStream<Incoming>.makeStream()
    }

    /// The session's event loop: until the service group shuts down, then the stop (the running
    /// step's grace, the audit trail's stop record, the ATNA repository) before the other services stop.
    public func run() async {
        var hangup: SignalHandler?
        if let operators = settings.operators {
            controller = ScreenController(operators: operators, idleTimeout: Double(settings.configuration.kiosk.idleTimeoutSeconds))
            if case .archive = settings.destination { controller?.destinationName = "the local archive" }
            controller?.checkOperators()
            let input = self.input
            let screen = OperatorScreen(initial: ScreenModel(title: "kiosk-agent"), onInput: { input.yield(.screen($0)) })
            self.screen = screen
            screen.start()
            // The terminal hung up (window closed, tty gone): the screen stops, the service goes on.
            hangup = SignalHandler([SIGHUP]) { input.yield(.screen(.closed)) }
            refreshStatus()
            render()
        }
        udevRunning = UdevDaemon.isRunning
        audit([AuditEvent(.serviceStart, actor: "service", details: serviceDetails())], checkpoint: true)
        if controller?.hasNoOperator == true {
            Self.log("warning: no operator can sign in: the screen asks IT to add one (kiosk-agent operator add NAME)")
        }
        if udevRunning {
            notifier.ready("waiting for media")
            Self.log("ready: watching optical drives, USB storage\(settings.includeLoopDevices ? " and loop devices" : ""); destination \(settings.destination)")
        } else {
            notifier.ready(Self.noUdev)
            Self.log("warning: \(Self.noUdev); checking again every 2 s. Destination \(settings.destination)")
        }
        await withGracefulShutdownHandler {
            for await incoming in events { receive(incoming) }
        } onGracefulShutdown: { [input] in
            input.finish()
        }
        notifier.stopping()
        Self.log("stopping (SIGTERM or SIGINT)")
        await finishWork()
        screen?.stop()
        hangup?.cancel()
        audit([AuditEvent(.serviceStop, actor: "service")], checkpoint: true, forward: false)
        // The stop goes to the repository before the process ends (bounded by [atna] timeout_seconds).
        await ATNASetup.forward(try? ATNASetup.forwarder(settings.stateDirectory, settings.configuration), wait: true, log: Self.log)
        Self.log("stopped")
    }

    private func receive(_ incoming: Incoming) {
        switch incoming {
        case let .machine(event, producedBy):
            if producedBy == nil || producedBy == generation { handle(event) }
        case let .screen(screenInput):
            operatorInput(screenInput)
        case .tick:
            if controller?.tick(state: queue.active.state) == true {
                Self.log("operator signed out after inactivity")
                if var current = controller { takeAudit(&current); controller = current }
            }
            if controller?.hasNoOperator == true {
                controller?.checkOperators()
                if controller?.hasNoOperator == false { Self.log("an operator was added: the screen offers sign-in") }
            }
            refreshStatus()
            deliveryProgress()
        case let .udev(running):
            udevRunning = running
            if running {
                Self.log("udev is running now: watching optical drives and USB storage")
                notifier.status("waiting for media")
            } else {
                Self.log("warning: \(Self.noUdev)")
                notifier.status(Self.noUdev)
            }
            refreshStatus()
        }
        render()
    }

    public static let noUdev = "udev (systemd-udevd) is not running: no disc or USB stick will be seen until it runs"

    /// How long a stop waits for the running step before it leaves it.
    public static let stopGrace: Double = 5

    /// The service is stopping: the running step gets a few seconds to finish (its work is then
    /// kept, with its report). A study the operator has not sent yet (checking, or at the
    /// review) is withdrawn from the spool, as Cancel would. A step still running after the grace
    /// is left: what it committed stays whole (archived instances; spooled ones are sent later),
    /// the rest is read again when the medium is inserted again, and the audit trail records it.
    private func finishWork() async {
        let state = queue.active.state
        let session: String?
        switch state {
        case .protecting, .reviewing, .delivering: session = sessionInProgress
        case .mediaDetected, .reading: session = nil
        default: return
        }
        let deadline = Date().addingTimeInterval(Self.stopGrace)
        while !workDone.isSet, Date() < deadline { try? await Task.sleep(nanoseconds: 50_000_000) }
        let finished = workDone.isSet
        work?.cancel()
        var details = ["step": SessionMachine.name(state), "finished": finished ? "yes" : "no"]
        if let medium = state.medium { details["device"] = medium.device }
        var unsent = false
        if case .delivering = state {} else { unsent = controller != nil && session != nil }
        if unsent, let session, let key = settings.destination.spoolKey, let spool {
            let count = (try? spool.withdraw(session: session, destination: key)) ?? 0
            details["withdrawn"] = String(count)
            Self.log("stopped before the operator sent the study: \(count) instance(s) taken out of the spool, nothing sent")
        }
        if finished && !unsent {
            Self.log("the running step finished before the stop; its work is kept")
            return
        }
        if !finished {
            Self.log("stopped during \(SessionMachine.name(state)): what was committed stays whole; insert the medium again to finish it")
        }
        audit([AuditEvent(.sessionInterrupted, actor: "service", session: session, details: details)])
    }

    /// Where work reports back, stamped with the generation it was started in.
    public struct Feed: Sendable {
        public let input: AsyncStream<Incoming>.Continuation
        public let generation: Int?
        public func yield(_ event: SessionMachine.Event) { input.yield(.machine(event, generation)) }
    }

    /// Where the other services report (media events, the clock, udev): no generation.
    public nonisolated var feed: Feed { Feed(input: input, generation: nil) }

    /// A new generation for work about to start.
    private func nextFeed() -> Feed {
        generation += 1
        return Feed(input: input, generation: generation)
    }

    private func handle(_ event: SessionMachine.Event) {
        let effects: [SessionMachine.Effect]
        do { effects = try queue.handle(event) } catch {
            return    // late progress or completion after a cancel: nothing to do
        }
        for effect in effects { perform(effect) }
        noteStep()
        // With an operator, the screen answers; headless, nobody confirms, reviews or acknowledges.
        guard controller == nil else { return }
        switch queue.active.state {
        case .confirmingPatient:
            if settings.configuration.kiosk.requireExpectedPatient {
                Self.log("session refused: [kiosk] require_expected_patient is set and no operator is signed in; the medium was not imported")
                feed.yield(.cancel)
            } else {
                feed.yield(.proceedUnverified)
            }
        case .reviewing: feed.yield(.reviewAccepted)
        case .unreadable, .removedMidRead, .heldForReview: feed.yield(.acknowledged)
        default: break
        }
    }

    private func operatorInput(_ screenInput: ScreenInput) {
        guard var controller else { return }
        if screenInput == .closed {
            guard screen != nil else { return }
            // The terminal went away: the service goes on; a session waiting for the operator waits.
            Self.log("the operator terminal went away; media are still watched and running steps finish")
            screen?.stop()
            screen = nil
            return
        }
        let events = controller.input(screenInput, state: queue.active.state)
        takeAudit(&controller)
        self.controller = controller
        for event in events { handle(event) }
    }

    /// Operator sign-in events into the audit trail.
    private func takeAudit(_ controller: inout ScreenController) {
        guard !controller.audit.isEmpty else { return }
        audit(controller.audit.map { AuditEvent($0.type, actor: $0.actor, details: $0.details) })
        controller.audit.removeAll()
    }

    private func audit(_ events: [AuditEvent], checkpoint: Bool = false, forward: Bool = true) {
        do { try AuditLog(directory: settings.stateDirectory.audit).append(events, checkpoint: checkpoint) } catch {
            Self.log("warning: the audit trail could not be written: \(error)")
        }
        // To the ATNA repository now; while it is unreachable the records wait in the trail.
        guard forward else { return }
        let settings = self.settings
        Task.detached { await ATNASetup.forward(try? ATNASetup.forwarder(settings.stateDirectory, settings.configuration), log: KioskService.log) }
    }

    /// What the service runs with: the configuration's hash shows every configuration change between starts.
    private func serviceDetails() -> [String: String] {
        var details = ["destination": settings.destination.description, "screen": controller == nil ? "no" : "yes",
                       "version": KioskAgentVersion.string]
        if let path = settings.configurationPath, let data = FileManager.default.contents(atPath: path) {
            details["configuration"] = path
            details["configurationSHA256"] = SHA256.hash(data: data).lowercaseHex
        }
        return details
    }

    /// Remembers when the current long step started, for the screen's ETA.
    private func noteStep() {
        let name = SessionMachine.name(queue.active.state)
        if name != stepName {
            stepName = name
            stepStarted = queue.active.state.isBusy ? Date() : nil
        }
    }

    /// While the reviewed study is sent: how many of its instances the destination has.
    private func deliveryProgress() {
        guard case let .delivering(_, _, outcome, _) = queue.active.state, let session = outcome.sessionID,
              let key = settings.destination.spoolKey, let spool,
              let rows = try? spool.instances(destination: key, session: session) else { return }
        let stored = rows.filter { $0.state == .stored }
        handle(.deliveryProgress(SessionMachine.Progress(files: stored.count, totalFiles: rows.count,
                                                         bytes: stored.reduce(0) { $0 + $1.size }, totalBytes: rows.reduce(0) { $0 + $1.size })))
    }

    private func refreshStatus() {
        var text = udevRunning ? "Images go to \(settings.destination)"
            : "Discs and USB sticks are not seen: udev is not running (IT: start systemd-udevd)"
        if let spool, let waiting = try? spool.instances(states: [.pending, .sending]).count, waiting > 0 {
            text += "  |  \(waiting) image(s) waiting to be sent"
        }
        status = text
    }

    private func render() {
        guard let screen, let controller else { return }
        screen.show(controller.model(state: queue.active.state, status: status, started: stepStarted))
    }

    /// A flag for the pipeline step about to start: its task sets it when it returns, so a stop
    /// can tell whether the step finished.
    private func newWork() -> DoneFlag {
        workDone = DoneFlag()
        return workDone
    }

    private func perform(_ effect: SessionMachine.Effect) {
        switch effect {
        case let .audit(line):
            Self.log(line)
        case let .startReading(medium):
            // The patients on the medium, for the operator to confirm (headless logs how many).
            let feed = nextFeed(), configuration = settings.configuration, done = newWork()
            work = Task {
                defer { done.set() }
                do {
                    let found = try await OwnThread.run { Result { try PatientInventory.read(medium.device, configuration: configuration) } }.get()
                    feed.yield(.readProgress(SessionMachine.Progress(files: found.dicomFiles, totalFiles: found.dicomFiles,
                                                                     bytes: found.bytes, totalBytes: found.bytes)))
                    feed.yield(.inventoryRead(found.patients))
                } catch {
                    feed.yield(.readFailed("\(error)"))
                }
            }
        case let .startProtecting(medium, confirmation):
            notifier.status("importing \(medium.device)")
            var job = IngestJob(source: medium.device, destination: settings.destination, configuration: settings.configuration,
                                stateDirectory: settings.stateDirectory, protector: settings.protector,
                                expected: confirmation.isUnverified ? nil : IdentityCheck(expected: .init(
                                    id: confirmation.patientID, name: confirmation.patientName, birthDate: confirmation.birthDate)),
                                identityOverride: confirmation.mismatchReason, callingAE: nil)
            job.actor = controller?.signedIn ?? "service"
            job.mediaKind = switch medium.kind { case .usb: "usb"; case .loop: "file"; case .optical: nil }
            // With an operator, nothing leaves the kiosk before the review's "Send".
            job.deliverWhileReading = controller == nil
            job.spool = spool
            sessionInProgress = job.sessionID
            let feed = nextFeed()
            let progress = controller == nil ? nil : ProgressFeed(feed: feed), done = newWork()
            work = Task {
                defer { done.set() }
                do {
                    let (report, exit, _, kept) = try await job.run(progress: progress)
                    if exit == .mediaUnreadable {
                        feed.yield(.readFailed("the medium could not be read (report \(kept))"))
                        return
                    }
                    let totals = report.totals
                    feed.yield(.protectionFinished(SessionMachine.Outcome(
                        instances: totals.dicom, clean: totals.clean, disarmed: totals.disarmed, rejected: totals.rejected,
                        discarded: totals.discarded, identityMismatch: exit == .identityMismatch,
                        findings: KioskService.codes(report), reportPath: kept, spooled: report.files.filter { $0.delivery == .spooled }.count,
                        sessionID: job.sessionID, lookupCode: job.receipt?.lookupCode, cleanup: report.cleanupCounts)))
                } catch {
                    KioskService.log("session failed: \(error)")
                    feed.yield(.readFailed("\(error)"))
                }
            }
        case .startDelivering:
            guard case let .delivering(_, _, outcome, _) = queue.active.state else { return }
            guard controller != nil, let session = outcome.sessionID, settings.destination.spoolKey != nil else {
                // Headless, or the archive: the pipeline already delivered or spooled as it went.
                feed.yield(.deliveryFinished(outcome.spooled > 0 ? .spooled(pending: outcome.spooled) : .stored))
                return
            }
            // Reviewed: now the spool sends this study, for up to wait_seconds.
            let feed = nextFeed(), settings = self.settings, actor = controller?.signedIn ?? "service"
            guard let spool else { return }
            let done = newWork()
            work = Task {
                defer { done.set() }
                do {
                    let target = try DeliverySetup.target(for: settings.destination, settings.configuration, callingAE: nil)
                    try spool.release(session: session, destination: target.destination)
                    let deadline = Date().addingTimeInterval(Double(settings.configuration.delivery.waitSeconds))
                    let total = try spool.instances(destination: target.destination, session: session).count
                    feed.yield(.deliveryProgress(SessionMachine.Progress(files: 0, totalFiles: total)))
                    try await SpoolDrainer(spool: spool, target: target,
                                           observer: TransferAudit(stateDirectory: settings.stateDirectory, actor: actor)).drain(deadline: { deadline })
                    let waiting = try spool.instances(destination: target.destination, session: session, states: [.pending, .sending]).count
                    feed.yield(.deliveryFinished(waiting > 0 ? .spooled(pending: waiting) : .stored))
                } catch {
                    KioskService.log("delivery: \(error)")
                    feed.yield(.deliveryFinished(.spooled(pending: outcome.spooled)))
                }
            }
        case let .printReceipt(outcome, delivery):
            let state: String = switch delivery {
            case .stored: "all delivered"
            case let .spooled(pending): "\(pending) instance(s) safe in the spool, retried automatically"
            }
            Self.log("session done: \(outcome.instances) DICOM file(s), \(outcome.disarmed) disarmed, \(outcome.rejected) rejected, "
                + "\(outcome.discarded) discarded; \(state); report \(outcome.reportPath ?? "-")")
            // The receipt with the delivery as it ended (after the review's "Send"), printed when a printer is set.
            if let session = outcome.sessionID {
                let settings = self.settings, spool = self.spool, operatorName = controller?.signedIn
                Task.detached {
                    guard let kept = ReceiptFiles.refresh(session: session, spool: spool, operatorName: operatorName,
                                                          stateDirectory: settings.stateDirectory, settings: settings.configuration.receipt) else { return }
                    guard let printer = settings.configuration.receipt.printer else { return }
                    do { try ReceiptFiles.print(kept, printer: printer) } catch { KioskService.log("warning: receipt not printed: \(error)") }
                }
            }
            notifier.status("waiting for media")
        case let .eject(device):
            guard settings.configuration.kiosk.eject, device.hasPrefix("/dev/sr") else { return }
            do { try OpticalDrive(device: device).eject() } catch { Self.log("eject \(device): \(error)") }
        case let .lockTray(device), let .unlockTray(device):
            guard device.hasPrefix("/dev/sr") else { return }
            let lock = if case .lockTray = effect { true } else { false }
            do { try OpticalDrive(device: device).lockTray(lock) } catch { Self.log("tray \(device): \(error)") }
        case .cancelWork:
            work?.cancel()
            generation += 1
        case let .withdraw(session):
            // Cancelled at review: the study never leaves the kiosk.
            guard let key = settings.destination.spoolKey, let spool else { return }
            let count = (try? spool.withdraw(session: session, destination: key)) ?? 0
            Self.log("cancelled at review: \(count) instance(s) taken out of the spool, nothing sent")
        }
    }

    /// Retries whatever the spool holds for every destination, every `drain_interval_seconds`.
    public static func drainInBackground(_ spool: Spool?, _ settings: Settings) async {
        let interval = UInt64(settings.configuration.kiosk.drainIntervalSeconds) * 1_000_000_000
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: interval)
            guard let spool = spool ?? (try? SpoolSetup.open(settings.stateDirectory, settings.configuration)),
                  var destinations = try? spool.destinationsWithWork() else { continue }
            // A portal may be owed session manifests with nothing left to upload (every file rejected).
            if case .portal = settings.destination, !destinations.contains(settings.destination.description) {
                destinations.append(settings.destination.description)
            }
            for url in destinations {
                guard let parsed = try? Destination(parsing: url, stateDirectory: settings.stateDirectory),
                      let target = try? DeliverySetup.target(for: parsed, settings.configuration, callingAE: nil) else { continue }
                try? await SpoolDrainer(spool: spool, target: target,
                                        observer: TransferAudit(stateDirectory: settings.stateDirectory, actor: "service")).drain(deadline: { Date() })
            }
            // Audit records queued while the repository was unreachable go now.
            await ATNASetup.forward(try? ATNASetup.forwarder(settings.stateDirectory, settings.configuration), log: log)
        }
    }

    /// Distinct finding codes of medium severity or more, for the review screen (codes, no patient
    /// data). Routine clean-up is said once in the summary, not listed as if it were a threat.
    public static func codes(_ report: Report) -> [String] {
        var seen = Set<String>()
        return (report.media.findings + report.files.flatMap(\.findings))
            .filter { $0.severity >= .medium && $0.routineRemoval == nil }.map(\.code.rawValue).filter { seen.insert($0).inserted }
    }

    public static func kind(_ kind: MediaDevice.Kind) -> SessionMachine.Medium.Kind {
        switch kind {
        case .optical: .optical
        case .usb: .usb
        case .loop: .loop
        }
    }

    /// One line per event on stderr (the journal). Counts, devices and codes only: no patient data.
    public static func log(_ line: String) {
        FileHandle.standardError.write(Data("kiosk-agent: \(line)\n".utf8))
    }
}

/// A flag one task sets and another reads.
public final class DoneFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    public var isSet: Bool { lock.withLock { value } }
    public func set() { lock.withLock { value = true } }
}

/// Progress of the running step for the screen, a few times a second at most.
public final class ProgressFeed: IngestProgress, @unchecked Sendable {
    private let feed: KioskService.Feed
    private var progress = SessionMachine.Progress()
    private var last = Date.distantPast

    public init(feed: KioskService.Feed) { self.feed = feed }

    public func start(files: Int, bytes: Int64) {
        progress = SessionMachine.Progress(files: 0, totalFiles: files, bytes: 0, totalBytes: bytes)
        feed.yield(.protectProgress(progress))
    }

    public func advance(bytes size: Int64) {
        progress.files += 1
        progress.bytes += size
        let now = Date()
        guard now.timeIntervalSince(last) >= 0.25 else { return }
        last = now
        feed.yield(.protectProgress(progress))
    }

    public func finish() { feed.yield(.protectProgress(progress)) }
}
