/* alloc-new.c - every C++ operator new and delete (plain, array, nothrow, sized,
 * std::align_val_t and their combinations), written in C under their mangled
 * names as mimalloc does, so librallo needs no libstdc++. On failure they defer
 * to mimalloc's mi_new family, which calls the new-handler (or aborts, as
 * Debian's C build of mimalloc does). */
#include "fastpath.h"

#define NEW_DEFAULT_ALIGN 16

static void *new_plain(size_t size) {
    void *p = rallo_malloc(size);
    return p != NULL ? p : mi_new(size);
}
static void *new_nothrow(size_t size) {
    void *p = rallo_malloc(size);
    return p != NULL ? p : mi_new_nothrow(size);
}
static void *new_aligned(size_t size, size_t alignment) {
    void *p = alignment_valid(alignment) ? rallo_aligned(alignment, size) : NULL;
    return p != NULL ? p : mi_new_aligned(size, alignment);
}
static void *new_aligned_nothrow(size_t size, size_t alignment) {
    void *p = alignment_valid(alignment) ? rallo_aligned(alignment, size) : NULL;
    return p != NULL ? p : mi_new_aligned_nothrow(size, alignment);
}

typedef struct nothrow_tag nothrow_tag; /* std::nothrow_t, only passed by reference */

/* operator new(size_t), new[](size_t) and their nothrow forms */
rallo_export void *_Znwm(size_t size) { return new_plain(size); }
rallo_export void *_Znam(size_t size) { return new_plain(size); }
rallo_export void *_ZnwmRKSt9nothrow_t(size_t size, const nothrow_tag *tag) { (void)tag; return new_nothrow(size); }
rallo_export void *_ZnamRKSt9nothrow_t(size_t size, const nothrow_tag *tag) { (void)tag; return new_nothrow(size); }

/* operator new(size_t, align_val_t) and friends */
rallo_export void *_ZnwmSt11align_val_t(size_t size, size_t alignment) { return new_aligned(size, alignment); }
rallo_export void *_ZnamSt11align_val_t(size_t size, size_t alignment) { return new_aligned(size, alignment); }
rallo_export void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const nothrow_tag *tag) {
    (void)tag;
    return new_aligned_nothrow(size, alignment);
}
rallo_export void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const nothrow_tag *tag) {
    (void)tag;
    return new_aligned_nothrow(size, alignment);
}

/* operator delete in every form: the size and alignment are hints rallo does
 * not need (the block knows both). */
rallo_export void _ZdlPv(void *p) { rallo_free(p); }
rallo_export void _ZdaPv(void *p) { rallo_free(p); }
rallo_export void _ZdlPvm(void *p, size_t size) { (void)size; rallo_free(p); }
rallo_export void _ZdaPvm(void *p, size_t size) { (void)size; rallo_free(p); }
rallo_export void _ZdlPvSt11align_val_t(void *p, size_t alignment) { (void)alignment; rallo_free(p); }
rallo_export void _ZdaPvSt11align_val_t(void *p, size_t alignment) { (void)alignment; rallo_free(p); }
rallo_export void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t alignment) {
    (void)size;
    (void)alignment;
    rallo_free(p);
}
rallo_export void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t alignment) {
    (void)size;
    (void)alignment;
    rallo_free(p);
}
rallo_export void _ZdlPvRKSt9nothrow_t(void *p, const nothrow_tag *tag) { (void)tag; rallo_free(p); }
rallo_export void _ZdaPvRKSt9nothrow_t(void *p, const nothrow_tag *tag) { (void)tag; rallo_free(p); }
rallo_export void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const nothrow_tag *tag) {
    (void)alignment;
    (void)tag;
    rallo_free(p);
}
rallo_export void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const nothrow_tag *tag) {
    (void)alignment;
    (void)tag;
    rallo_free(p);
}
