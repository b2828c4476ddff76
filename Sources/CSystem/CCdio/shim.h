#ifndef CCdio_SHIM_H
#define CCdio_SHIM_H
#include <cdio/cdio.h>
#include <cdio/iso9660.h>
#include <cdio/udf.h>

#endif
