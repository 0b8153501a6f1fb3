/* entry-points.h - the allocation entry points librallo exports that no
 * system header declares (alloc.c, alloc-new.c): the other allocators'
 * spellings mimalloc also answers to, glibc's internal names, and the C++
 * operators under their mangled names. The standard ones (malloc, free,
 * posix_memalign, memalign, malloc_usable_size...) are declared by
 * <stdlib.h> and <malloc.h>. */
#ifndef RALLO_ENTRY_POINTS_H
#define RALLO_ENTRY_POINTS_H

#include <stddef.h>

/* ---- C (alloc.c) ---- */
void *reallocf(void *p, size_t size);
int reallocarr(void *pp, size_t count, size_t size);
size_t malloc_size(const void *p);
size_t malloc_good_size(size_t size);
void cfree(void *p);
void vfree(void *p);
void *_aligned_malloc(size_t size, size_t alignment);
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);
void __libc_cfree(void *p);
void *__libc_memalign(size_t alignment, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);
int __posix_memalign(void **out, size_t alignment, size_t size);

/* ---- C++ (alloc-new.c) ----
 * In C only: C++ code (the tests') reaches these as the operators they are. */
#ifndef __cplusplus
typedef struct nothrow_tag nothrow_tag; /* std::nothrow_t, only passed by reference */
void *_Znwm(size_t size);
void *_Znam(size_t size);
void *_ZnwmRKSt9nothrow_t(size_t size, const nothrow_tag *tag);
void *_ZnamRKSt9nothrow_t(size_t size, const nothrow_tag *tag);
void *_ZnwmSt11align_val_t(size_t size, size_t alignment);
void *_ZnamSt11align_val_t(size_t size, size_t alignment);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const nothrow_tag *tag);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const nothrow_tag *tag);
void _ZdlPv(void *p);
void _ZdaPv(void *p);
void _ZdlPvm(void *p, size_t size);
void _ZdaPvm(void *p, size_t size);
void _ZdlPvSt11align_val_t(void *p, size_t alignment);
void _ZdaPvSt11align_val_t(void *p, size_t alignment);
void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t alignment);
void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t alignment);
void _ZdlPvRKSt9nothrow_t(void *p, const nothrow_tag *tag);
void _ZdaPvRKSt9nothrow_t(void *p, const nothrow_tag *tag);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const nothrow_tag *tag);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const nothrow_tag *tag);
#endif

#endif
