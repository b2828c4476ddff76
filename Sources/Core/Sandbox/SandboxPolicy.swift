/// What the media helper may still do once it has entered its sandbox (issue 7, part 2): read the
/// source it was handed and the system's libraries, write only under its scratch directory, no
/// network, no new programs, bounded memory, CPU time and descriptors.
public struct SandboxPolicy: Sendable, Equatable {
    /// The descriptor on the medium (image file, block device or directory), opened read-only by
    /// the parent: the only medium the helper can read.
    /// nil: no medium (the scanner, which is handed descriptors later; Landlock does not govern
    /// reads through descriptors already open).
    public var source: Int32?
    /// The only directory the helper may write to (created empty by the parent).
    public var scratch: String
    /// Read-only system trees the C libraries may need (iconv modules for Joliet names, locale data).
    public var systemReadable = ["/usr", "/lib", "/lib64", "/proc/self", "/sys/devices/system/cpu", "/sys/fs/cgroup"]
    public var limits: ResourceLimits
    /// The scanner's clamd and ICAP clients: socket(2) and connect(2) are allowed (seccomp), TCP
    /// connects only to these ports (Landlock ABI 4+). False: no sockets at all (the media helper).
    public var connects = false
    public var connectPorts: [UInt16] = []

    public init(source: Int32?, scratch: String, limits: ResourceLimits) {
        self.source = source
        self.scratch = scratch
        self.limits = limits
    }
}

/// The helper's and the scanner's resource limits (setrlimit). The helper's CPU time is its own: scans run in the scanner.
public struct ResourceLimits: Sendable, Equatable, Codable {
    public var addressSpaceBytes: Int64 = 4 << 30
    public var cpuSeconds: Int = 3600
    public var openFiles: Int = 64
    /// Largest file the helper may write (under scratch).
    public var fileSizeBytes: Int64 = 1 << 30

    public init() {}
}

public enum SandboxError: Error, CustomStringConvertible, Equatable {
    case unavailable(String)
    case failed(step: String, errno: Int32)

    public var description: String {
        switch self {
        case let .unavailable(what): "sandbox unavailable: \(what)"
        case let .failed(step, errno): "sandbox step \(step) failed (errno \(errno))"
        }
    }
}
