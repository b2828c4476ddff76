#ifndef CLinux_SHIM_H
#define CLinux_SHIM_H
// glibc declares syncfs(2) only under _GNU_SOURCE, which Swift's Glibc module is not built with.
// Delete this wrapper once Glibc exports syncfs.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <unistd.h>

static inline int kiosk_syncfs(int fd) { return syncfs(fd); }

#endif
