#ifndef CClamAV_SHIM_H
#define CClamAV_SHIM_H
#include <clamav.h>

/* CL_DB_STDOPT is an OR of other macros, which Swift does not import (delete when it does). */
static inline unsigned int cclamav_db_stdopt(void) { return CL_DB_STDOPT; }

#endif
