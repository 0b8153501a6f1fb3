/* fastpath.h - the inline fast paths every entry point shares (alloc.c for C,
 * alloc-new.c for C++): decide untracked or tracked with one load, and call
 * mimalloc directly on the untracked side. */
#ifndef RALLO_FASTPATH_H
#define RALLO_FASTPATH_H

#include <errno.h>

#include "alloc-internal.h"

static inline bool tracking_on(void) {
    return rallo_unlikely(atomic_load_explicit(&_rallo_tracking_on, memory_order_relaxed) != 0);
}

static inline void *rallo_malloc(size_t size) {
    if (tracking_on())
        return _rallo_tracked_alloc(size, 16, false);
    return mi_malloc(size);
}

static inline void rallo_free(void *p) {
    if (rallo_unlikely(rallo_in_arena(p))) {
        _rallo_tracked_free(p);
        return;
    }
    mi_free(p);
}

static inline void *rallo_calloc(size_t count, size_t size) {
    size_t total;
    if (rallo_unlikely(__builtin_mul_overflow(count, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    if (tracking_on())
        return _rallo_tracked_alloc(total, 16, true);
    return mi_zalloc(total);
}

static inline void *rallo_realloc(void *p, size_t size) {
    if (p == NULL)
        return rallo_malloc(size);
    if (size == 0) { /* glibc: realloc(p, 0) frees p and returns NULL */
        rallo_free(p);
        return NULL;
    }
    if (rallo_unlikely(tracking_on() || rallo_in_arena(p)))
        return _rallo_tracked_realloc(p, size);
    return mi_realloc(p, size);
}

static inline bool alignment_valid(size_t alignment) {
    return alignment != 0 && (alignment & (alignment - 1)) == 0;
}

static inline void *rallo_aligned(size_t alignment, size_t size) {
    if (tracking_on())
        return _rallo_tracked_alloc(size, alignment, false);
    if (alignment <= 16)
        return mi_malloc(size);
    return mi_malloc_aligned(size, alignment);
}

#endif
