#ifndef CBlkid_SHIM_H
#define CBlkid_SHIM_H
#include <blkid/blkid.h>

#endif
