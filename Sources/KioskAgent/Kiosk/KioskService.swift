import Delivery
import Foundation
import MediaEvents
import Protector
import SessionReport

/// `kiosk-agent run`: media events from udev drive the session machine; its effects run the
/// ingest pipeline, eject discs and log what happened (counts and codes, no patient data). The
/// spool is retried in the background. Headless for now: no operator, so identity is unverified
/// (recorded) unless the configuration requires an expected patient.
final class KioskService: @unchecked Sendable {
    struct Settings {
        var destination: Destination
        var configuration: Configuration
        var stateDirectory: URL
        var protector: Protector
        var includeLoopDevices: Bool
    }

    private let settings: Settings
    private let notifier = SystemdNotifier()
    /// Events with the work generation that produced them (nil: udev or the service itself).
    private let events: AsyncStream<(SessionMachine.Event, Int?)>
    private let input: AsyncStream<(SessionMachine.Event, Int?)>.Continuation
    /// Bumped whenever work starts: a late result of cancelled work (a disc pulled out, then
    /// another inserted) carries an old generation and is dropped.
    private var generation = 0
    private var queue = DriveQueue()
    /// The running pipeline; only the event loop touches it.
    private var work: Task<Void, Never>?

    init(settings: Settings) {
        self.settings = settings
        (events, input) = AsyncStream<(SessionMachine.Event, Int?)>.makeStream()
    }

    func run() async throws {
        let watcher = try MediaWatcher(includeLoopDevices: settings.includeLoopDevices)
        let present = try watcher.present()
        let media = watcher.events(startingWith: present)
        let feed = Feed(input: input, generation: nil)
        let forwarding = Task {
            for await event in media {
                switch event {
                case let .inserted(device):
                    feed.yield(.mediaInserted(SessionMachine.Medium(device: device.devnode, kind: Self.kind(device.kind), label: device.label)))
                case let .removed(devnode):
                    feed.yield(.mediaRemoved(device: devnode))
                case let .hidAttached(name):
                    Self.log("warning: a keyboard or other HID device appeared while the kiosk runs (\(name)); a USB stick can pose as one (BadUSB)")
                }
            }
            feed.input.finish()
        }
        let signals = Self.onTermination { watcher.stop() }
        let background = Task { await self.drainInBackground() }
        let watchdog = notifier.watchdogInterval.map { interval in
            Task { [notifier] in
                while !Task.isCancelled {
                    notifier.watchdog()
                    try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                }
            }
        }
        notifier.ready("waiting for media")
        Self.log("ready: watching optical drives, USB storage\(settings.includeLoopDevices ? " and loop devices" : ""); destination \(settings.destination)")
        for await (event, producedBy) in events where producedBy == nil || producedBy == generation { handle(event) }
        notifier.stopping()
        work?.cancel()
        background.cancel()
        watchdog?.cancel()
        forwarding.cancel()
        _ = signals
        Self.log("stopped")
    }

    /// Where work reports back, stamped with the generation it was started in.
    struct Feed: Sendable {
        let input: AsyncStream<(SessionMachine.Event, Int?)>.Continuation
        let generation: Int?
        func yield(_ event: SessionMachine.Event) { input.yield((event, generation)) }
    }

    private var feed: Feed { Feed(input: input, generation: nil) }

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
        // Headless: nobody confirms, reviews or acknowledges.
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

    private func perform(_ effect: SessionMachine.Effect) {
        switch effect {
        case let .audit(line):
            Self.log(line)
        case let .startReading(medium):
            // The patients on the medium, for the operator to confirm (headless logs how many).
            let feed = nextFeed(), configuration = settings.configuration
            work = Task {
                do {
                    let found = try PatientInventory.read(medium.device, configuration: configuration)
                    feed.yield(.readProgress(SessionMachine.Progress(files: found.dicomFiles, totalFiles: found.dicomFiles,
                                                                     bytes: found.bytes, totalBytes: found.bytes)))
                    feed.yield(.inventoryRead(found.patients))
                } catch {
                    feed.yield(.readFailed("\(error)"))
                }
            }
        case let .startProtecting(medium, confirmation):
            notifier.status("importing \(medium.device)")
            let job = IngestJob(source: medium.device, destination: settings.destination, configuration: settings.configuration,
                                stateDirectory: settings.stateDirectory, protector: settings.protector,
                                expected: confirmation.isUnverified ? nil : IdentityCheck(expected: .init(
                                    id: confirmation.patientID, name: confirmation.patientName, birthDate: confirmation.birthDate)),
                                identityOverride: confirmation.mismatchReason, callingAE: nil)
            let feed = nextFeed()
            work = Task {
                do {
                    let (report, exit, _, kept) = try await job.run(progress: nil)
                    if exit == .mediaUnreadable {
                        feed.yield(.readFailed("the medium could not be read (report \(kept))"))
                        return
                    }
                    let totals = report.totals
                    feed.yield(.protectionFinished(SessionMachine.Outcome(
                        instances: totals.dicom, clean: totals.clean, disarmed: totals.disarmed, rejected: totals.rejected,
                        discarded: totals.discarded, identityMismatch: exit == .identityMismatch,
                        findings: [], reportPath: kept, spooled: report.files.filter { $0.delivery == .spooled }.count)))
                } catch {
                    KioskService.log("session failed: \(error)")
                    feed.yield(.readFailed("\(error)"))
                }
            }
        case .startDelivering:
            // The pipeline delivered (or spooled) while protecting; what is left waits in the spool.
            guard case let .delivering(_, _, outcome, _) = queue.active.state else { return }
            let pending = outcome.spooled
            feed.yield(.deliveryFinished(pending > 0 ? .spooled(pending: pending) : .stored))
        case let .printReceipt(outcome, delivery):
            let state: String = switch delivery {
            case .stored: "all delivered"
            case let .spooled(pending): "\(pending) instance(s) safe in the spool, retried automatically"
            }
            Self.log("session done: \(outcome.instances) DICOM file(s), \(outcome.disarmed) disarmed, \(outcome.rejected) rejected, "
                + "\(outcome.discarded) discarded; \(state); report \(outcome.reportPath ?? "-")")
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
        }
    }

    /// Retries whatever the spool holds for every destination, every `drain_interval_seconds`.
    private func drainInBackground() async {
        let interval = UInt64(settings.configuration.kiosk.drainIntervalSeconds) * 1_000_000_000
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: interval)
            guard let spool = try? SpoolSetup.open(settings.stateDirectory, settings.configuration),
                  let destinations = try? spool.destinationsWithWork() else { continue }
            for url in destinations {
                guard let parsed = try? Destination(parsing: url, stateDirectory: settings.stateDirectory),
                      let target = try? DeliverySetup.target(for: parsed, settings.configuration, callingAE: nil) else { continue }
                try? await SpoolDrainer(spool: spool, target: target).drain(deadline: { Date() })
            }
        }
    }

    static func kind(_ kind: MediaDevice.Kind) -> SessionMachine.Medium.Kind {
        switch kind {
        case .optical: .optical
        case .usb: .usb
        case .loop: .loop
        }
    }

    /// One line per event on stderr (the journal). Counts, devices and codes only: no patient data.
    static func log(_ line: String) {
        FileHandle.standardError.write(Data("kiosk-agent: \(line)\n".utf8))
    }

    /// SIGTERM and SIGINT end the service cleanly (systemd stop, Ctrl-C).
    static func onTermination(_ stop: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { stop() }
            source.resume()
            return source
        }
    }
}
