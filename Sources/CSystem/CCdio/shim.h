#ifndef CCdio_SHIM_H
#define CCdio_SHIM_H
#include <cdio/cdio.h>
#include <cdio/logging.h>
#include <cdio/iso9660.h>
#include <cdio/udf.h>

/* Flexible array member `filename[]`: Swift does not import it. */
static inline const char *ccdio_stat_filename(const iso9660_stat_t *stat) { return stat->filename; }

/* `type` is an anonymous enum inside the struct: Swift cannot name its cases. */
static inline int ccdio_stat_is_directory(const iso9660_stat_t *stat) { return stat->type == _STAT_DIR; }

#endif
