import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// Enters the media helper's sandbox, in this order: resource limits, no core dumps, death with
/// the parent, no new privileges, Landlock (file system, TCP, scopes), then seccomp. Every step
/// is required: a kernel that cannot provide one is an error, and the helper then reads nothing.
public enum Sandbox {
    /// What is in force, for the helper's diagnostics and the tests.
    public struct Applied: Sendable, Equatable {
        public var landlockABI: Int
        public var seccompRules: Int
    }

    /// Must run while the process has a single thread: Landlock restricts the calling thread and
    /// the threads it creates afterwards (seccomp is synchronised to all threads regardless).
    public static func enter(_ policy: SandboxPolicy) throws(SandboxError) -> Applied {
        let threads = threadCount()
        guard threads == 1 else { throw .unavailable("\(threads) threads already run; Landlock would not cover them") }
        try policy.limits.apply()
        // The parent (the agent) going away ends the helper: no orphan keeps reading a disc.
        guard kiosk_set_parent_death_signal(SIGKILL) == 0 else { throw .failed(step: "PR_SET_PDEATHSIG", errno: errno) }
        // Not dumpable: no core file with a patient's images, no ptrace from the same user.
        guard kiosk_set_dumpable(0) == 0 else { throw .failed(step: "PR_SET_DUMPABLE", errno: errno) }
        guard kiosk_set_no_new_privs() == 0 else { throw .failed(step: "PR_SET_NO_NEW_PRIVS", errno: errno) }
        let abi = try Landlock.restrict(policy)
        let rules = try SeccompFilter.install(connects: policy.connects)
        return Applied(landlockABI: abi, seccompRules: rules)
    }

    static func threadCount() -> Int {
        guard let file = fopen("/proc/self/status", "r") else { return -1 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let bytes = line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            guard bytes.starts(with: Array("Threads:".utf8)) else { continue }
            return Int(String(decoding: bytes.dropFirst(8).filter { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self)) ?? -1
        }
        return -1
    }
}

extension ResourceLimits {
    func apply() throws(SandboxError) {
        func set(_ resource: Int32, _ soft: UInt64, _ hard: UInt64, _ name: String) throws(SandboxError) {
            var limit = rlimit(rlim_cur: rlim_t(soft), rlim_max: rlim_t(hard))
            guard setrlimit(__rlimit_resource_t(UInt32(resource)), &limit) == 0 else { throw .failed(step: "setrlimit \(name)", errno: errno) }
        }
        try set(Int32(RLIMIT_AS.rawValue), UInt64(addressSpaceBytes), UInt64(addressSpaceBytes), "RLIMIT_AS")
        // SIGXCPU at the soft limit, SIGKILL at the hard one.
        try set(Int32(RLIMIT_CPU.rawValue), UInt64(cpuSeconds), UInt64(cpuSeconds + 5), "RLIMIT_CPU")
        try set(Int32(RLIMIT_NOFILE.rawValue), UInt64(openFiles), UInt64(openFiles), "RLIMIT_NOFILE")
        try set(Int32(RLIMIT_FSIZE.rawValue), UInt64(fileSizeBytes), UInt64(fileSizeBytes), "RLIMIT_FSIZE")
        try set(Int32(RLIMIT_CORE.rawValue), 0, 0, "RLIMIT_CORE")
    }
}
