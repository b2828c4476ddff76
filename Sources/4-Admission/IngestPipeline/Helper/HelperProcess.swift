import CLinux
import Foundation
import HelperProtocol
import MediaReader
import POSIX
import Scanner
import Sandbox
import SessionReport

/// The agent's handle on one media helper process: started with the medium opened read-only as
/// its descriptor 3 and nothing else inherited, stopped with SIGKILL, always reaped.
/// Used by one thread at a time: the session that started it.
public final class HelperProcess: @unchecked Sendable {
    public let pid: pid_t
    public let commands: FrameWriter
    public let events: FrameReader
    /// The helper's only writable directory; removed when it has exited.
    public let scratch: URL
    /// The agent's own descriptor of the medium, kept when the medium gives the same bytes on every
    /// read (an image file, an optical disc): the engines then scan ranges of it directly. A USB
    /// device could answer a second read differently from the first, which the helper parsed.
    public let medium: SystemFile?
    /// The agent's ends of the two pipes; closed after the helper was stopped (`deinit`).
    private let commandPipe: Descriptor
    private let eventPipe: Descriptor
    private var exitStatus: Int32?
    private var lastHeard = Date()

    /// The agent's own executable (whatever it was replaced by since, the running image is used).
    /// Tests that call the agent's code inside the test runner point it at the built binary.
    /// The scanner (`ScannerClient.executable`) is the same program.
    public static var executable: String {
        get { ScannerClient.executable }
        set { ScannerClient.executable = newValue }
    }

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens `source` read-only (never through a symlink) and starts the helper on it.
    public static func start(source: String, scratch: URL) throws -> HelperProcess {
        var status = stat()
        guard lstat(source, &status) == 0 else { throw MediaError.io(operation: "stat \(source)", errno: errno) }
        let type = status.st_mode & S_IFMT
        guard type != S_IFLNK else { throw MediaError.unsupported("\(source) is a symbolic link; name the device or image itself") }
        guard type == S_IFDIR || type == S_IFREG || type == S_IFBLK else {
            throw MediaError.unsupported("\(source) is neither a directory, a regular file nor a block device")
        }
        let medium: Descriptor
        do { medium = try Descriptor.open(source, O_RDONLY | O_NOFOLLOW | (type == S_IFDIR ? O_DIRECTORY : 0)) } catch {
            throw MediaError.io(operation: "open \(source)", errno: error.rawValue)
        }
        let stable = type == S_IFREG || (type == S_IFBLK && gnu_dev_major(status.st_rdev) == HelperProcess.opticalMajor)
        let kept = stable ? try? SystemFile(duplicating: medium.rawValue, path: source) : nil
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])

        // The agent must outlive a helper that dies while we write to it.
        signal(SIGPIPE, SIG_IGN)
        let toHelper = try pipe(), fromHelper = try pipe()
        // Whole files and scan content cross these pipes: 1 MiB buffers (the unprivileged maximum)
        // instead of 64 KiB cut the context switches per file from dozens to a few.
        for end in [toHelper.write, fromHelper.read] { _ = fcntl(end.rawValue, KIOSK_F_SETPIPE_SZ, 1 << 20) }

        // The medium and the helper's ends stay open until the helper has its copies; then only the agent's ends are left.
        let spawned = withExtendedLifetime((medium, toHelper.read, fromHelper.write)) {
            SandboxedChild.spawn(HelperProcess.executable, MediaHelper.argument, input: toHelper.read.rawValue,
                                 descriptors: [medium.rawValue, fromHelper.write.rawValue], faultVariable: "KIOSK_AGENT_HELPER_FAULT")
        }
        let pid: pid_t
        switch spawned {
        case let .success(started): pid = started
        case let .failure(error): throw StartError(description: "the media helper could not be started: \(error)")
        }
        return HelperProcess(pid: pid, commandPipe: toHelper.write, eventPipe: fromHelper.read, scratch: scratch, medium: kept)
    }

    /// A pipe whose ends are close-on-exec from the start (no other thread's child inherits them).
    private static func pipe() throws -> (read: Descriptor, write: Descriptor) {
        var ends: [Int32] = [-1, -1]
        guard kiosk_pipe_cloexec(&ends) == 0 else { throw StartError(description: "pipe: \(String(cString: strerror(errno)))") }
        return (Descriptor(adopting: ends[0]), Descriptor(adopting: ends[1]))
    }

    /// The block major number of SCSI CD-ROM drives (sr*): read-only media.
    public static let opticalMajor: UInt32 = 11

    private init(pid: pid_t, commandPipe: Descriptor, eventPipe: Descriptor, scratch: URL, medium: SystemFile?) {
        self.medium = medium
        self.pid = pid
        self.commandPipe = commandPipe
        self.eventPipe = eventPipe
        self.scratch = scratch
        commands = FrameWriter(fd: commandPipe.rawValue)
        events = FrameReader(fd: eventPipe.rawValue)
    }

    /// The helper's next frame; nil when it closed its end. Silence longer than `stall` seconds
    /// throws `.timeout`, except while `excused()` (the agent's engines are scanning for it).
    public func nextEvent(stall: Double, excused: () -> Bool = { false }) throws -> Frame? {
        while true {
            do {
                let frame = try events.next(timeout: 1)
                lastHeard = Date()
                return frame
            } catch HelperProtocolError.timeout {
                if excused() { lastHeard = Date() }
                if Date().timeIntervalSince(lastHeard) > stall { throw HelperProtocolError.timeout(stall) }
            }
        }
    }

    deinit { _ = stop() }

    /// Waits up to `grace` seconds for the helper to exit by itself, then kills it; returns how it ended.
    @discardableResult
    public func stop(grace: Double = 0) -> Ending {
        if let exitStatus { return Ending(exitStatus) }
        let deadline = Date().addingTimeInterval(grace)
        var status: Int32 = 0
        while true {
            let done = retryingOnInterrupt { waitpid(pid, &status, WNOHANG) }
            if done == pid || done < 0 { break }
            if Date() >= deadline {
                kill(pid, SIGKILL)
                _ = retryingOnInterrupt { waitpid(pid, &status, 0) }
                break
            }
            usleep(10_000)
        }
        exitStatus = status
        try? FileManager.default.removeItem(at: scratch)
        return Ending(status)
    }

    /// How the helper ended, in words for a finding.
    public struct Ending: CustomStringConvertible {
        public let status: Int32

        public init(_ status: Int32) { self.status = status }

        public var signal: Int32? { status & 0x7F != 0 ? status & 0x7F : nil }
        public var code: Int32 { (status >> 8) & 0xFF }
        public var isClean: Bool { signal == nil && code == 0 }

        public var description: String {
            guard let signal else { return "exited with status \(code)" }
            switch signal {
            case SIGSYS: return "was stopped by its sandbox (a forbidden system call, SIGSYS)"
            case SIGXCPU: return "ran out of its CPU time limit (SIGXCPU)"
            case SIGKILL: return "was killed (SIGKILL)"
            case SIGSEGV: return "crashed (SIGSEGV)"
            case SIGBUS: return "crashed (SIGBUS)"
            case SIGILL, SIGTRAP: return "stopped on a failed check (signal \(signal))"
            case SIGABRT: return "aborted (SIGABRT)"
            default: return "ended by signal \(signal)"
            }
        }
    }
}
