#ifndef CClamAV_SHIM_H
#define CClamAV_SHIM_H
#include <clamav.h>

#endif
