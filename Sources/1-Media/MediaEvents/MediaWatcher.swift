import Foundation
import POSIX
#if canImport(Glibc)
import Glibc
#endif

/// Media inserted and removed, from udev: devices present at start first, then events as they
/// come. A dedicated thread waits on the netlink socket (and a pipe that stops it); consumers
/// read an AsyncStream.
public final class MediaWatcher: @unchecked Sendable {
    private let context: UdevContext
    private let monitor: UdevMonitor
    private let includeLoopDevices: Bool
    private let wake: (read: Descriptor, write: Descriptor)
    private var thread: Thread?

    public init(includeLoopDevices: Bool) throws(MediaEventError) {
        self.includeLoopDevices = includeLoopDevices
        context = try UdevContext()
        // hid: a keyboard that appears while the kiosk runs is reported (BadUSB).
        monitor = try UdevMonitor(context: context, subsystems: ["block", "hid"])
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw .system("pipe", errno: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        wake = (Descriptor(adopting: fds[0]), Descriptor(adopting: fds[1]))
    }

    deinit { stop() }

    /// Media present now (the monitor is already listening, so nothing inserted meanwhile is missed).
    public func present() throws(MediaEventError) -> [MediaDevice] {
        try UdevEnumeration.devices(context, subsystem: "block").compactMap { device in
            var snapshot = device.snapshot
            snapshot.action = "add"
            return MediaClassifier.medium(snapshot, includeLoopDevices: includeLoopDevices)
        }
    }

    /// Events from now on. One stream per watcher; it ends when `stop()` is called.
    public func events(startingWith initial: [MediaDevice] = []) -> AsyncStream<MediaEvent> {
        let (stream, continuation) = AsyncStream<MediaEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
        for medium in initial { continuation.yield(.inserted(medium)) }
        // The thread holds the read end: it stays open until the thread has seen the wake-up.
        let monitor = self.monitor, wakeRead = wake.read, includeLoopDevices = self.includeLoopDevices
        let thread = Thread {
            var presence = MediaPresence(includeLoopDevices: includeLoopDevices)
            presence.assumePresent(initial)
            var fds = [pollfd(fd: monitor.fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead.rawValue, events: Int16(POLLIN), revents: 0)]
            while true {
                guard retryingOnInterrupt({ poll(&fds, 2, -1) }) >= 0 else { break }
                if fds[1].revents != 0 { break }
                while let device = monitor.receive() {
                    for event in presence.events(for: device.snapshot) { continuation.yield(event) }
                }
            }
            continuation.finish()
        }
        thread.name = "kiosk-agent media watcher"
        self.thread = thread
        thread.start()
        return stream
    }

    public func stop() {
        [UInt8(1)].withUnsafeBytes { _ = try? wake.write.writeAll($0) }
    }
}
