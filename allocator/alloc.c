/* alloc.c - the C allocation entry points. Untracked path: one relaxed load of
 * the tracking flag, then mimalloc; free: one range check, then mi_free. Every
 * allocation symbol Debian's libmimalloc exports is defined here too, or a
 * program could reach mimalloc around rallo. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "entry-points.h"
#include "fastpath.h"

static inline void *set_enomem_if_null(void *p) {
    if (p == NULL)
        errno = ENOMEM;
    return p;
}

rallo_export void *malloc(size_t size) {
    return rallo_malloc(size);
}

rallo_export void free(void *p) {
    rallo_free(p);
}

rallo_export void *calloc(size_t count, size_t size) {
    return rallo_calloc(count, size);
}

rallo_export void *realloc(void *p, size_t size) {
    return rallo_realloc(p, size);
}

rallo_export void *reallocarray(void *p, size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return rallo_realloc(p, total);
}

/* BSD: like realloc, but frees p when it fails. */
rallo_export void *reallocf(void *p, size_t size) {
    void *fresh = rallo_realloc(p, size);
    if (fresh == NULL && size != 0)
        rallo_free(p);
    return fresh;
}

/* NetBSD: *(void **)pp resized to count*size; 0, or an errno value. */
rallo_export int reallocarr(void *pp, size_t count, size_t size) {
    void **slot = pp;
    size_t total;
    if (__builtin_mul_overflow(count, size, &total))
        return EOVERFLOW;
    if (total == 0) {
        rallo_free(*slot);
        *slot = NULL;
        return 0;
    }
    int saved = errno;
    void *fresh = rallo_realloc(*slot, total);
    if (fresh == NULL) {
        int error = errno;
        errno = saved;
        return error != 0 ? error : ENOMEM;
    }
    *slot = fresh;
    errno = saved;
    return 0;
}

rallo_export int posix_memalign(void **out, size_t alignment, size_t size) {
    if (!alignment_valid(alignment) || alignment % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = rallo_aligned(alignment, size);
    errno = saved; /* posix_memalign reports by its result, not errno */
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

rallo_export void *aligned_alloc(size_t alignment, size_t size) {
    if (!alignment_valid(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return set_enomem_if_null(rallo_aligned(alignment, size));
}

rallo_export void *memalign(size_t alignment, size_t size) {
    /* glibc rounds an alignment that is not a power of two up to one. */
    if (alignment < 16)
        alignment = 16;
    if (!alignment_valid(alignment)) {
        if (alignment > (SIZE_MAX >> 1) + 1) {
            errno = EINVAL;
            return NULL;
        }
        size_t rounded = 1;
        while (rounded < alignment)
            rounded <<= 1;
        alignment = rounded;
    }
    return set_enomem_if_null(rallo_aligned(alignment, size));
}

static size_t page_size(void) {
    static size_t cached_page_size;
    if (cached_page_size == 0)
        cached_page_size = (size_t)sysconf(_SC_PAGESIZE);
    return cached_page_size;
}

rallo_export void *valloc(size_t size) {
    return set_enomem_if_null(rallo_aligned(page_size(), size));
}

rallo_export void *pvalloc(size_t size) {
    size_t page = page_size();
    size_t rounded;
    if (__builtin_add_overflow(size, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    rounded &= ~(page - 1);
    if (rounded == 0)
        rounded = page;
    return set_enomem_if_null(rallo_aligned(page, rounded));
}

rallo_export size_t malloc_usable_size(void *p) {
    if (p == NULL)
        return 0;
    if (rallo_unlikely(rallo_in_arena(p)))
        return _rallo_tracked_usable_size(p);
    return mi_usable_size(p);
}

/* macOS names, exported by libmimalloc too. */
rallo_export size_t malloc_size(const void *p) {
    return malloc_usable_size((void *)p);
}

rallo_export size_t malloc_good_size(size_t size) {
    return mi_good_size(size);
}

rallo_export void cfree(void *p) rallo_alias(free);
rallo_export void vfree(void *p) rallo_alias(free);

/* Windows name, exported by libmimalloc. */
rallo_export void *_aligned_malloc(size_t size, size_t alignment) {
    if (!alignment_valid(alignment)) {
        errno = EINVAL;
        return NULL;
    }
    return set_enomem_if_null(rallo_aligned(alignment, size));
}

/* glibc's internal names: some programs (and libraries) call them directly. */
rallo_export void *__libc_malloc(size_t size) rallo_alias(malloc);
rallo_export void *__libc_calloc(size_t count, size_t size) rallo_alias(calloc);
rallo_export void *__libc_realloc(void *p, size_t size) rallo_alias(realloc);
rallo_export void __libc_free(void *p) rallo_alias(free);
rallo_export void __libc_cfree(void *p) rallo_alias(free);
rallo_export void *__libc_memalign(size_t alignment, size_t size) rallo_alias(memalign);
rallo_export void *__libc_valloc(size_t size) rallo_alias(valloc);
rallo_export void *__libc_pvalloc(size_t size) rallo_alias(pvalloc);
rallo_export int __posix_memalign(void **out, size_t alignment, size_t size) rallo_alias(posix_memalign);
