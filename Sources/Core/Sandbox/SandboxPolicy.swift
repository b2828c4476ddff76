/// What the media helper may still do once it has entered its sandbox (issue 7, part 2): read the
/// source it was handed and the system's libraries, write only under its scratch directory, no
/// network, no new programs, bounded memory, CPU time and descriptors.
public struct SandboxPolicy: Sendable, Equatable {
    /// The descriptor on the medium (image file, block device or directory), opened read-only by
    /// the parent: the only medium the helper can read.
    public var source: Int32
    /// The only directory the helper may write to (created empty by the parent).
    public var scratch: String
    /// Read-only system trees the C libraries may need (iconv modules for Joliet names, locale data).
    public var systemReadable = ["/usr", "/lib", "/lib64", "/proc/self", "/sys/devices/system/cpu", "/sys/fs/cgroup"]
    public var limits: ResourceLimits

    public init(source: Int32, scratch: String, limits: ResourceLimits) {
        self.source = source
        self.scratch = scratch
        self.limits = limits
    }
}

/// The helper's resource limits (setrlimit). CPU time is the helper's own: scans run in the parent.
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
