#ifndef CCdio_SHIM_H
#define CCdio_SHIM_H
#include <cdio/cdio.h>
#include <cdio/logging.h>
#include <cdio/iso9660.h>
#include <cdio/udf.h>
#include <cdio/mmc_ll_cmds.h>

/* Flexible array member filename[]: Swift imports it as an empty field it cannot address (delete when Swift imports FAMs). */
static inline const char *ccdio_stat_filename(const iso9660_stat_t *stat) { return stat->filename; }

#endif
