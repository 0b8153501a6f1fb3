/* fastpath.h - the inline fast paths every entry point shares (alloc.c for C,
 * alloc-new.c for C++): decide untracked or tracked with the tracking flag
 * and the sampler's per-thread countdown (tracking/sampler.h), and call
 * mimalloc directly on the untracked side. */
#ifndef RALLO_FASTPATH_H
#define RALLO_FASTPATH_H

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "../tracking/sampler.h"
#include "alloc-internal.h"

/* Tracking off is one load of the flag, so that turning tracking on reaches
 * every thread at once; on, the sampler's countdown (tracking/sampler.h). */
static inline bool tracking_on(void) {
    return rallo_unlikely(atomic_load_explicit(&_rallo_tracking_on, memory_order_relaxed) != 0);
}

/* mimalloc's smallest size class is 8 bytes and only 8-aligned; glibc promises
 * 16 (alignof(max_align_t)) for every block, programs built for glibc rely on
 * it, and so does rallo's own free path. One compare, no branch. */
static inline size_t at_least_16(size_t size) {
    return size < 16 ? 16 : size;
}

/* mimalloc sets errno to ENOMEM when memory runs out, but not when a request
 * is beyond any block (more than PTRDIFF_MAX bytes); C and POSIX want ENOMEM
 * there too. Checking the size first keeps the call to mimalloc a tail call. */
static __attribute__((noinline, cold)) void *out_of_memory(void) {
    errno = ENOMEM;
    return NULL;
}

static inline bool beyond_any_block(size_t size) {
    return rallo_unlikely(size > (size_t)PTRDIFF_MAX);
}

/* Sampling and every allocation alike: the countdown, and the tracked path
 * (which asks the sampler) when it runs out. */
static inline void *rallo_malloc_sized(size_t size, size_t mimalloc_size) {
    if (tracking_on() && _rallo_countdown_runs_out(size))
        return _rallo_tracked_malloc(size);
    return mi_malloc(mimalloc_size);
}

/* A request of 16 bytes up to PTRDIFF_MAX, the common case, needs neither the
 * 16-byte minimum nor the size limit: one signed compare tells it from both
 * (sizes past PTRDIFF_MAX are negative as signed). */
static inline void *rallo_malloc(size_t size) {
    if (rallo_likely((ptrdiff_t)size >= 16))
        return rallo_malloc_sized(size, size);
    if (beyond_any_block(size))
        return out_of_memory();
    return rallo_malloc_sized(size, 16);
}

static inline void rallo_free(void *p) {
    if (rallo_unlikely(rallo_in_arena(p))) {
        _rallo_tracked_free(p);
        return;
    }
    mi_free(p);
}

static inline void *rallo_calloc_sized(size_t total, size_t mimalloc_size) {
    if (tracking_on() && _rallo_countdown_runs_out(total))
        return _rallo_tracked_alloc(total, 16, true);
    return mi_zalloc(mimalloc_size);
}

/* The same signed compare as malloc's, after the product's overflow check. */
static inline void *rallo_calloc(size_t count, size_t size) {
    size_t total;
    if (rallo_unlikely(__builtin_mul_overflow(count, size, &total)))
        return out_of_memory();
    if (rallo_likely((ptrdiff_t)total >= 16))
        return rallo_calloc_sized(total, total);
    if (beyond_any_block(total))
        return out_of_memory();
    return rallo_calloc_sized(total, 16);
}

/* An untracked block stays untracked, resized in place where mimalloc can,
 * unless the countdown runs out (the tracked path asks the sampler). */
static inline void *rallo_realloc_sized(void *p, size_t size, size_t mimalloc_size) {
    if (rallo_likely(!rallo_in_arena(p)) && (!tracking_on() || !_rallo_countdown_runs_out(size)))
        return mi_realloc(p, mimalloc_size);
    return _rallo_tracked_realloc(p, size);
}

/* malloc's signed compare sets the common size apart from 0, the small ones
 * and the impossible ones. */
static inline void *rallo_realloc(void *p, size_t size) {
    if (p == NULL)
        return rallo_malloc(size);
    if (rallo_likely((ptrdiff_t)size >= 16))
        return rallo_realloc_sized(p, size, size);
    if (size == 0) { /* glibc: realloc(p, 0) frees p and returns NULL */
        rallo_free(p);
        return NULL;
    }
    if (beyond_any_block(size))
        return out_of_memory();
    return rallo_realloc_sized(p, size, 16);
}

static inline bool alignment_valid(size_t alignment) {
    return alignment != 0 && (alignment & (alignment - 1)) == 0;
}

/* mimalloc 2.0.9's mi_malloc_aligned trusts a size that is a multiple of the
 * alignment to come out aligned by itself, and it does not always (e.g. 512
 * bytes at 256: the block's offset in its page decides): such a block is
 * given back and the request made again one byte larger, which takes
 * mimalloc's over-allocating path. Later mimallocs check and do the same. */
static __attribute__((noinline, cold)) void *mi_aligned_retry(void *misaligned, size_t size,
                                                              size_t alignment) {
    mi_free(misaligned);
    return size < SIZE_MAX ? mi_malloc_aligned(size + 1, alignment) : NULL;
}

static inline void *mi_aligned(size_t size, size_t alignment) {
    void *p = mi_malloc_aligned(size, alignment);
    if (rallo_unlikely(((uintptr_t)p & (alignment - 1)) != 0))
        return mi_aligned_retry(p, size, alignment);
    return p;
}

/* The one untracked path every exit of the tracked path takes too: the
 * 16-byte minimum, and mimalloc's aligned bug worked around. */
static inline void *plain_alloc(size_t size, size_t alignment, bool zero) {
    if (alignment <= 16)
        return zero ? mi_zalloc(at_least_16(size)) : mi_malloc(at_least_16(size));
    void *p = mi_aligned(size, alignment);
    if (p != NULL && zero)
        memset(p, 0, size);
    return p;
}

/* An untracked block resized: stays 16-aligned whatever the size. */
static inline void *plain_realloc(void *p, size_t size) {
    return mi_realloc(p, at_least_16(size));
}

/* No block is past PTRDIFF_MAX: refused before the countdown, which such a
 * size would wrap. */
static inline void *rallo_aligned(size_t alignment, size_t size) {
    if (beyond_any_block(size))
        return out_of_memory();
    void *p = _rallo_countdown_runs_out(size) ? _rallo_tracked_alloc(size, alignment, false)
                                              : plain_alloc(size, alignment, false);
    return rallo_likely(p != NULL) ? p : out_of_memory();
}

#endif
