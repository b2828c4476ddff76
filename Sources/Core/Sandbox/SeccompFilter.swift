import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// The helper's seccomp-bpf filter: a deny list over what reading a disc never needs. Network
/// sockets fail with EACCES (libraries see an error, not a crash); running programs, tracing,
/// mounting, namespaces, kernel modules, BPF and io_uring (which bypasses seccomp) end the
/// process; new processes fail (threads are allowed). Another architecture's or x32 system calls
/// end the process too.
enum SeccompFilter {
    enum Action {
        case errno(Int32)
        case kill

        var value: UInt32 {
            switch self {
            case let .errno(code): 0x0005_0000 | UInt32(code)  // SECCOMP_RET_ERRNO
            case .kill: 0x8000_0000  // SECCOMP_RET_KILL_PROCESS
            }
        }
    }

    static let allow: UInt32 = 0x7FFF_0000  // SECCOMP_RET_ALLOW
    #if arch(x86_64)
    static let architecture: UInt32 = 0xC000_003E  // AUDIT_ARCH_X86_64
    #elseif arch(arm64)
    static let architecture: UInt32 = 0xC000_00B7  // AUDIT_ARCH_AARCH64
    #endif

    /// `connects`: socket(2) and connect(2) stay allowed (the scanner's clamd and ICAP clients
    /// connect for each scan: clamd's INSTREAM takes one connection per stream).
    static func rules(connects: Bool) -> [(Int, Action)] {
        var rules: [(Int, Action)] = []
        let refused = connects ? [SYS_socketpair, SYS_bind, SYS_listen, SYS_accept, SYS_accept4]
            : [SYS_socket, SYS_socketpair, SYS_connect, SYS_bind, SYS_listen, SYS_accept, SYS_accept4]
        for call in refused {
            rules.append((Int(call), .errno(EACCES)))
        }
        #if arch(x86_64)
        rules.append((Int(SYS_fork), .errno(EPERM)))
        rules.append((Int(SYS_vfork), .errno(EPERM)))
        #endif
        // glibc falls back to clone(2) on ENOSYS, whose flags the filter can see (clone3's it cannot).
        rules.append((Int(SYS_clone3), .errno(ENOSYS)))
        for call in [SYS_execve, SYS_execveat, SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev, SYS_mount, SYS_umount2,
                     SYS_pivot_root, SYS_chroot, SYS_unshare, SYS_setns, SYS_bpf, SYS_perf_event_open, SYS_keyctl, SYS_add_key,
                     SYS_request_key, SYS_userfaultfd, SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_kexec_load,
                     SYS_kexec_file_load, SYS_reboot, SYS_swapon, SYS_swapoff, SYS_io_uring_setup, SYS_io_uring_enter,
                     SYS_io_uring_register, SYS_open_by_handle_at, SYS_name_to_handle_at, SYS_mknodat, SYS_setuid, SYS_setgid,
                     SYS_setreuid, SYS_setregid, SYS_setresuid, SYS_setresgid, SYS_setgroups, SYS_personality, SYS_acct,
                     SYS_quotactl, SYS_syslog, SYS_settimeofday, SYS_clock_settime, SYS_sethostname, SYS_setdomainname] {
            rules.append((Int(call), .kill))
        }
        #if arch(x86_64)
        rules.append((Int(SYS_mknod), .kill))
        #endif
        return rules
    }

    static func program(connects: Bool = false) -> [sock_filter] {
        func statement(_ code: Int32, _ k: UInt32) -> sock_filter { sock_filter(code: UInt16(code), jt: 0, jf: 0, k: k) }
        func jump(_ code: Int32, _ k: UInt32, _ jt: UInt8, _ jf: UInt8) -> sock_filter {
            sock_filter(code: UInt16(code), jt: jt, jf: jf, k: k)
        }
        let load = BPF_LD | BPF_W | BPF_ABS, equal = BPF_JMP | BPF_JEQ | BPF_K, ret = BPF_RET | BPF_K
        // struct seccomp_data: nr at 0, arch at 4, args[0] at 16 (low word first on little endian).
        var program = [
            statement(load, 4),
            jump(equal, architecture, 1, 0),
            statement(ret, Action.kill.value),
            statement(load, 0),
        ]
        #if arch(x86_64)
        program += [jump(BPF_JMP | BPF_JGE | BPF_K, 0x4000_0000, 0, 1), statement(ret, Action.kill.value)]
        #endif
        for (call, action) in rules(connects: connects) {
            program += [jump(equal, UInt32(call), 0, 1), statement(ret, action.value)]
        }
        // clone(2) only for threads: a new process (fork-like clone) is refused.
        program += [
            jump(equal, UInt32(SYS_clone), 0, 3),
            statement(load, 16),
            jump(BPF_JMP | BPF_JSET | BPF_K, UInt32(KIOSK_CLONE_THREAD), 1, 0),
            statement(ret, Action.errno(EPERM).value),
            statement(ret, allow),
        ]
        return program
    }

    static func install(connects: Bool = false) throws(SandboxError) -> Int {
        var filter = program(connects: connects)
        let count = rules(connects: connects).count + 1
        let status = filter.withUnsafeMutableBufferPointer { buffer in
            var prog = sock_fprog(len: UInt16(buffer.count), filter: buffer.baseAddress)
            return kiosk_seccomp_set_filter(&prog)
        }
        guard status == 0 else { throw .failed(step: "seccomp", errno: errno) }
        return count
    }
}
