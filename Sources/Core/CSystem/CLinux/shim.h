#ifndef CLinux_SHIM_H
#define CLinux_SHIM_H
// glibc declares syncfs(2) only under _GNU_SOURCE, which Swift's Glibc module is not built with.
// Delete this wrapper once Glibc exports syncfs.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <unistd.h>
// malloc_trim(3): Swift's Glibc module does not include <malloc.h>.
#include <malloc.h>
// gnu_dev_major(3) (major() is a macro Swift cannot call).
#include <sys/sysmacros.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>

static inline int kiosk_syncfs(int fd) { return syncfs(fd); }
// Also _GNU_SOURCE only: close-on-exec pipes created atomically, and closing every inherited
// descriptor above a number in a spawned child (glibc 2.34+). <fcntl.h> and <spawn.h> are not
// included: under _GNU_SOURCE they pull in a `fd_set` that clashes with Swift's Glibc module, so
// the one flag is spelled out and the spawn call is declared on an opaque pointer.
#define KIOSK_O_CLOEXEC 02000000
extern int posix_spawn_file_actions_addclosefrom_np(void *actions, int from);
static inline int kiosk_pipe_cloexec(int fds[2]) { return pipe2(fds, KIOSK_O_CLOEXEC); }
static inline int kiosk_spawn_close_from(void *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

// The Landlock ABI 4-6 fields (network, scopes) are newer than this header's struct: the kernel
// takes the larger struct by its size, so it is declared here.
struct kiosk_landlock_ruleset_attr {
    __u64 handled_access_fs;
    __u64 handled_access_net;
    __u64 scoped;
};
// _GNU_SOURCE values Swift's Glibc module does not export (it is built without _GNU_SOURCE).
#define KIOSK_O_PATH 010000000
#define KIOSK_CLONE_THREAD 0x00010000
#define KIOSK_F_SETPIPE_SZ 1031
#define KIOSK_O_DIRECT 040000
#define KIOSK_LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#define KIOSK_LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#define KIOSK_LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#define KIOSK_LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define KIOSK_LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#define KIOSK_LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define KIOSK_LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
// Landlock ABI 4 network rules (newer than this header's <linux/landlock.h>).
#define KIOSK_LANDLOCK_RULE_NET_PORT 2
struct kiosk_landlock_net_port_attr {
    __u64 allowed_access;
    __u64 port;
};
// memfd seals (F_ADD_SEALS and the seals are _GNU_SOURCE-only in <fcntl.h>, not included here).
#define KIOSK_F_ADD_SEALS 1033
#define KIOSK_F_SEAL_SEAL 0x0001
#define KIOSK_F_SEAL_SHRINK 0x0002
#define KIOSK_F_SEAL_GROW 0x0004
#define KIOSK_F_SEAL_WRITE 0x0008
#define KIOSK_MFD_CLOEXEC 0x0001U
#define KIOSK_MFD_ALLOW_SEALING 0x0002U

// The media helper's sandbox (issue 7). syscall(2) and prctl(2) are variadic, which Swift cannot
// call, and glibc has no wrappers for the Landlock and seccomp system calls.
static inline long kiosk_landlock_create_ruleset(const struct kiosk_landlock_ruleset_attr *attr, size_t size, __u32 flags) {
    return syscall(SYS_landlock_create_ruleset, attr, size, flags);
}
static inline long kiosk_landlock_add_path_rule(int ruleset, const struct landlock_path_beneath_attr *attr) {
    return syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, attr, 0);
}
static inline long kiosk_landlock_restrict_self(int ruleset) {
    return syscall(SYS_landlock_restrict_self, ruleset, 0);
}
static inline int kiosk_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
static inline int kiosk_set_parent_death_signal(int signal) { return prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0); }
static inline int kiosk_set_dumpable(int dumpable) { return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0); }
static inline long kiosk_landlock_add_net_rule(int ruleset, const struct kiosk_landlock_net_port_attr *attr) {
    return syscall(SYS_landlock_add_rule, ruleset, KIOSK_LANDLOCK_RULE_NET_PORT, attr, 0);
}
// The scanner's scan bodies: memfd_create(2) is declared by <sys/mman.h> only under _GNU_SOURCE,
// which Swift's Glibc module is built without, so it is called through syscall(2).
static inline int kiosk_memfd_create(const char *name, unsigned int flags) {
    return (int)syscall(SYS_memfd_create, name, flags);
}
// TSYNC: the filter applies to every thread of the process, not only the caller.
static inline long kiosk_seccomp_set_filter(const struct sock_fprog *program) {
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, program);
}

#endif
