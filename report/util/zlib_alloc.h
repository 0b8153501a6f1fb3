/* util/zlib_alloc.h - zlib's allocator hooks on mimalloc, so that what zlib
 * allocates inside a profiled process is rallo's own, untracked memory. */
#ifndef RALLO_UTIL_ZLIB_ALLOC_H
#define RALLO_UTIL_ZLIB_ALLOC_H

#include <zlib.h>

/* Sets z's zalloc, zfree and opaque; call before inflateInit or deflateInit. */
void rallo_zlib_use_mimalloc(z_stream *z);

#endif
