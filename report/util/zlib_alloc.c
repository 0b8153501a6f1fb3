/* util/zlib_alloc.c - zlib's allocator hooks on mimalloc (see zlib_alloc.h). */
#include "util/zlib_alloc.h"

#include <mimalloc.h>

static voidpf zlib_alloc(voidpf opaque, uInt items, uInt size) {
    (void)opaque;
    return mi_mallocn(items, size);
}

static void zlib_free(voidpf opaque, voidpf p) {
    (void)opaque;
    mi_free(p);
}

void rallo_zlib_use_mimalloc(z_stream *z) {
    z->zalloc = zlib_alloc;
    z->zfree = zlib_free;
    z->opaque = Z_NULL;
}
