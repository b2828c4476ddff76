import AgentConfiguration
import Dashboard
import Delivery
import Foundation
import IngestPipeline
import Logging
import MediaEvents
import ServiceLifecycle

/// `kiosk-agent run`: the station's concerns as services of one `ServiceGroup`. SIGTERM (systemd's
/// stop) and SIGINT shut them down gracefully in reverse order: the session first (its running
/// step gets its grace, the audit trail its stop record, the ATNA repository what is queued), then
/// the screen's clock, media events, udev liveness, the dashboard and the spool's retries; the
/// watchdog last, so systemd keeps hearing from the service while it stops.
public enum KioskStation {
    /// A stop that takes longer than this (a step past its grace, an ATNA repository that does not
    /// answer) is cancelled: inside systemd's TimeoutStopSec, so the service is never SIGKILLed.
    public static let gracefulShutdownLimit: Duration = .seconds(40)

    public static func run(_ settings: KioskService.Settings) async throws {
        // Before anything runs: a spool or udev monitor that cannot be opened is the command's error.
        let spool = settings.destination.spoolKey != nil ? try SpoolSetup.open(settings.stateDirectory, settings.configuration) : nil
        let watcher = try MediaWatcher(includeLoopDevices: settings.includeLoopDevices)
        let present = try watcher.present()
        let station = KioskService(settings: settings, spool: spool)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let interval = SystemdNotifier().watchdogInterval {
            services.append(.init(service: WatchdogService(interval: interval)))
        }
        services.append(.init(service: SpoolRetryService(spool: spool, settings: settings)))
        if settings.configuration.dashboard.enabled {
            // A dashboard that cannot bind its port is a warning, not the end of the kiosk.
            services.append(.init(service: DashboardService(settings: settings), successTerminationBehavior: .ignore))
        }
        services.append(.init(service: UdevLivenessService(station: station.feed)))
        // Media events end only when the watcher is stopped: if udev's monitor ends by itself, so does the service.
        services.append(.init(service: MediaEventService(watcher: watcher, present: present, station: station.feed),
                              successTerminationBehavior: .gracefullyShutdownGroup))
        if settings.operators != nil {
            services.append(.init(service: TickerService(station: station.feed)))
        }
        services.append(.init(service: station, successTerminationBehavior: .gracefullyShutdownGroup))
        var logger = Logger(label: "kiosk-agent")
        logger.logLevel = .warning
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = gracefulShutdownLimit
        configuration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
    }
}

/// udev's media events into the session.
struct MediaEventService: Service {
    let watcher: MediaWatcher
    let present: [MediaDevice]
    let station: KioskService.Feed

    func run() async {
        let media = watcher.events(startingWith: present)
        await withGracefulShutdownHandler {
            for await event in media {
                switch event {
                case let .inserted(device):
                    station.yield(.mediaInserted(SessionMachine.Medium(device: device.devnode, kind: KioskService.kind(device.kind), label: device.label)))
                case let .removed(devnode):
                    station.yield(.mediaRemoved(device: devnode))
                case let .hidAttached(name):
                    KioskService.log("warning: a keyboard or other HID device appeared while the kiosk runs (\(name)); a USB stick can pose as one (BadUSB)")
                }
            }
        } onGracefulShutdown: {
            watcher.stop()
        }
    }
}

/// Without systemd-udevd no medium is ever seen: the session says so, and hears when it runs again.
struct UdevLivenessService: Service {
    let station: KioskService.Feed

    func run() async {
        await cancelWhenGracefulShutdown { [station] in
            var running = UdevDaemon.isRunning
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(2))
                let now = UdevDaemon.isRunning
                if now != running {
                    running = now
                    station.input.yield(.udev(running: now))
                }
            }
        }
    }
}

/// The screen's clock: sign-out after inactivity, status and delivery progress, once a second.
struct TickerService: Service {
    let station: KioskService.Feed

    func run() async {
        await cancelWhenGracefulShutdown { [station] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                station.input.yield(.tick)
            }
        }
    }
}

/// systemd's watchdog (WatchdogSec=): pinged at half its interval for as long as the service runs.
struct WatchdogService: Service {
    let interval: Double

    func run() async {
        await cancelWhenGracefulShutdown { [interval] in
            let notifier = SystemdNotifier()
            while !Task.isCancelled {
                notifier.watchdog()
                try? await Task.sleep(for: .seconds(interval))
            }
        }
    }
}

/// Whatever the spool holds for any destination is retried every `drain_interval_seconds`, and audit
/// records queued while the ATNA repository was unreachable go with it.
struct SpoolRetryService: Service {
    let spool: Spool?
    let settings: KioskService.Settings

    func run() async {
        await cancelWhenGracefulShutdown { [spool, settings] in
            await KioskService.drainInBackground(spool, settings)
        }
    }
}

/// The read-only dashboard and /metrics on loopback.
struct DashboardService: Service {
    let settings: KioskService.Settings

    func run() async {
        let port = settings.configuration.dashboard.port
        let server = DashboardServer(port: port, sources: DashboardSources.make(settings.stateDirectory, settings.configuration))
        do {
            try await server.service { KioskService.log("dashboard on http://127.0.0.1:\($0)/") }.run()
        } catch {
            KioskService.log("warning: the dashboard could not start on 127.0.0.1:\(port): \(error)")
        }
    }
}
