#ifndef CUdev_SHIM_H
#define CUdev_SHIM_H
#include <libudev.h>

#endif
