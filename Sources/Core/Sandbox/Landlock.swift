import CLinux
import POSIX
#if canImport(Glibc)
import Glibc
#endif

/// Landlock (unprivileged, kernel 5.13+): the helper keeps read access to the source descriptor,
/// the system trees and its scratch directory, write access only under scratch; with ABI 4+ no
/// TCP bind or connect, with ABI 6+ no abstract UNIX sockets or signals outside its own domain.
/// The state directory (archive, spool, keys) and every other patient's data are out of reach.
enum Landlock {
    static let read = UInt64(LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

    static func restrict(_ policy: SandboxPolicy) throws(SandboxError) -> Int {
        let abi = Int(kiosk_landlock_create_ruleset(nil, 0, UInt32(LANDLOCK_CREATE_RULESET_VERSION)))
        guard abi >= 1 else { throw .unavailable("Landlock is not enabled in this kernel (errno \(errno))") }
        var fs = UInt64(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE
            | LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE
            | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG
            | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK
            | LANDLOCK_ACCESS_FS_MAKE_SYM)
        if abi >= 2 { fs |= UInt64(KIOSK_LANDLOCK_ACCESS_FS_REFER) }
        if abi >= 3 { fs |= UInt64(KIOSK_LANDLOCK_ACCESS_FS_TRUNCATE) }
        if abi >= 5 { fs |= UInt64(KIOSK_LANDLOCK_ACCESS_FS_IOCTL_DEV) }
        var attr = kiosk_landlock_ruleset_attr(handled_access_fs: fs, handled_access_net: 0, scoped: 0)
        var size = 8
        if abi >= 4 {
            attr.handled_access_net = UInt64(KIOSK_LANDLOCK_ACCESS_NET_BIND_TCP | KIOSK_LANDLOCK_ACCESS_NET_CONNECT_TCP)
            size = 16
        }
        if abi >= 6 {
            attr.scoped = UInt64(KIOSK_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | KIOSK_LANDLOCK_SCOPE_SIGNAL)
            size = 24
        }
        let created = Int32(kiosk_landlock_create_ruleset(&attr, size, 0))
        guard created >= 0 else { throw .failed(step: "landlock_create_ruleset", errno: errno) }
        let ruleset = Descriptor(adopting: created)

        // The source: read only (and, for a directory, listing). Block devices need no ioctl here:
        // the size was read before (BLKGETSIZE64 is not a device-specific ioctl Landlock governs).
        if let source = policy.source {
            var status = stat()
            guard fstat(source, &status) == 0 else { throw .failed(step: "fstat source", errno: errno) }
            let isDirectory = status.st_mode & S_IFMT == S_IFDIR
            try allow(ruleset, descriptor: source, isDirectory ? read : UInt64(LANDLOCK_ACCESS_FS_READ_FILE), what: "the source")
        }
        for path in policy.systemReadable {
            guard let file = try? Descriptor.open(path, KIOSK_O_PATH) else { continue }  // e.g. no /lib64 on this system
            let isDirectory = (try? file.status()).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
            try allow(ruleset, beneath: file, isDirectory ? read : UInt64(LANDLOCK_ACCESS_FS_READ_FILE), what: path)
        }
        let scratch: Descriptor
        do { scratch = try Descriptor.open(policy.scratch, KIOSK_O_PATH | O_DIRECTORY | O_NOFOLLOW) } catch {
            throw .failed(step: "open scratch \(policy.scratch)", errno: error.rawValue)
        }
        try allow(ruleset, beneath: scratch, fs & ~UInt64(LANDLOCK_ACCESS_FS_EXECUTE), what: "scratch")

        // The scanner's ICAP gateway: TCP connect to its port only (ABI 4+; older kernels leave TCP open).
        if abi >= 4 {
            for port in policy.connectPorts {
                var rule = kiosk_landlock_net_port_attr(allowed_access: UInt64(KIOSK_LANDLOCK_ACCESS_NET_CONNECT_TCP), port: UInt64(port))
                guard kiosk_landlock_add_net_rule(ruleset.rawValue, &rule) == 0 else { throw .failed(step: "landlock_add_rule port \(port)", errno: errno) }
            }
        }
        guard kiosk_landlock_restrict_self(ruleset.rawValue) == 0 else { throw .failed(step: "landlock_restrict_self", errno: errno) }
        return abi
    }

    /// Takes the descriptor itself, so it stays open until the rule is added.
    private static func allow(_ ruleset: Descriptor, beneath file: Descriptor, _ rights: UInt64, what: String) throws(SandboxError) {
        try allow(ruleset, descriptor: file.rawValue, rights, what: what)
    }

    private static func allow(_ ruleset: Descriptor, descriptor: Int32, _ rights: UInt64, what: String) throws(SandboxError) {
        var rule = landlock_path_beneath_attr(allowed_access: rights, parent_fd: descriptor)
        guard kiosk_landlock_add_path_rule(ruleset.rawValue, &rule) == 0 else { throw .failed(step: "landlock_add_rule \(what)", errno: errno) }
    }
}
