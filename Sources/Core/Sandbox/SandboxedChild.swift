import CLinux
import Foundation
import POSIX
#if canImport(Glibc)
import Glibc
#endif

/// How the agent starts its sandboxed children (the media helper, the scanner): the agent's own
/// executable with one argument, given exactly the descriptors it needs and nothing else of the
/// agent's (the spool database, sockets, keys), signals at their defaults and unblocked, a minimal
/// environment, and a process group of its own: the terminal's hangup and Ctrl-C are for the
/// agent, which stops in order; they would kill a child mid-scan and fail what it was doing.
public enum SandboxedChild {
    /// Starts `executable argument`. Its standard input is `input` (nil: /dev/null), its standard
    /// output the agent's standard error, its standard error the agent's, and `descriptors[i]`
    /// becomes its descriptor 3 + i. A debug build passes `faultVariable` on, for the tests' faults.
    /// Returns the child's process ID, or the errno of the failure.
    ///
    /// The child's parent-death signal (`PR_SET_PDEATHSIG`, set as it enters its sandbox) fires
    /// when the *thread* that spawned it ends, not the agent: Dispatch's and the concurrency pool's
    /// threads end when idle, and would take a child mid-medium with them. So every child is
    /// spawned from one thread that lives as long as the agent.
    public static func spawn(_ executable: String, _ argument: String, input: Int32?, descriptors: [Int32],
                             faultVariable: String) -> Result<pid_t, SpawnError> {
        SpawningThread.shared.run {
            spawnHere(executable, argument, input: input, descriptors: descriptors, faultVariable: faultVariable)
        }
    }

    private static func spawnHere(_ executable: String, _ argument: String, input: Int32?, descriptors: [Int32],
                                  faultVariable: String) -> Result<pid_t, SpawnError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 runs in order: move everything above the targets first so no target is overwritten early.
        var high: [Descriptor] = []
        for fd in [input].compactMap({ $0 }) + descriptors {
            do { high.append(try Descriptor.duplicate(fd, atLeast: 10)) } catch { return .failure(SpawnError(operation: "dup", errno: error.rawValue)) }
        }
        // The copies stay open until posix_spawn has made them the child's.
        defer { withExtendedLifetime(high) {} }
        var moved = high.map(\.rawValue)[...]
        if input != nil {
            posix_spawn_file_actions_adddup2(&actions, moved.removeFirst(), 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, 2, 1)
        for (index, fd) in moved.enumerated() { posix_spawn_file_actions_adddup2(&actions, fd, Int32(3 + index)) }
        kiosk_spawn_close_from(&actions, Int32(3 + descriptors.count))

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        var environment = ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "SWIFT_BACKTRACE=enable=no"]
        #if DEBUG
        if let fault = ProcessInfo.processInfo.environment[faultVariable] { environment.append("\(faultVariable)=\(fault)") }
        #endif
        let argv: [UnsafeMutablePointer<CChar>?] = [executable, argument].map { (text: String) in strdup(text) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { (text: String) in strdup(text) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { return .failure(SpawnError(operation: "posix_spawn", errno: result)) }
        return .success(pid)
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public let operation: String
        public let errno: Int32
        public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
    }
}

/// One thread for the life of the process, that runs what it is given (spawning children).
final class SpawningThread: @unchecked Sendable {
    static let shared = SpawningThread()
    private let condition = NSCondition()
    private var work: [() -> Void] = []

    private init() {
        let thread = Thread { [self] in
            while true {
                let next = condition.withLock {
                    while work.isEmpty { condition.wait() }
                    return work.removeFirst()
                }
                next()
            }
        }
        thread.start()
    }

    /// Runs `body` on the thread and waits for its result.
    func run<T>(_ body: @escaping () -> T) -> T {
        let done = NSCondition()
        var result: T?
        condition.withLock {
            work.append {
                let outcome = body()
                done.withLock { result = outcome; done.signal() }
            }
            condition.signal()
        }
        return done.withLock {
            while result == nil { done.wait() }
            return result!
        }
    }
}
