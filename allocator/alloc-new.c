/* alloc-new.c - every C++ operator new and delete (plain, array, nothrow, sized,
 * std::align_val_t and their combinations), written in C under their mangled
 * names as mimalloc does, so librallo needs no libstdc++. On failure they do
 * what the standard asks (call the new-handler while there is one, then throw
 * std::bad_alloc; nothrow forms return NULL) through libstdc++'s own functions,
 * reached by weak references: Debian's C build of mimalloc would abort instead. */
#include <stdlib.h>

#include "entry-points.h"
#include "fastpath.h"

typedef void (*new_handler_fn)(void);
/* std::get_new_handler() and std::__throw_bad_alloc(), when libstdc++ is loaded
 * (it always is in a program that can catch the exception). */
extern new_handler_fn _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

static void *new_attempt(size_t size, size_t alignment) {
    if (alignment <= 16)
        return rallo_malloc(size);
    return alignment_valid(alignment) ? rallo_aligned(alignment, size) : NULL;
}

/* The slow path of a throwing operator new: never returns NULL. */
static rallo_noinline void *new_failed(size_t size, size_t alignment) {
    for (;;) {
        new_handler_fn handler = _ZSt15get_new_handlerv != NULL ? _ZSt15get_new_handlerv() : NULL;
        if (handler == NULL)
            break;
        handler(); /* frees memory, throws, or aborts */
        void *p = new_attempt(size, alignment);
        if (p != NULL)
            return p;
    }
    if (_ZSt17__throw_bad_allocv != NULL)
        _ZSt17__throw_bad_allocv();
    _rallo_warn("operator new(%zu) failed and std::bad_alloc cannot be thrown without libstdc++", size);
    abort();
}

/* nothrow forms return NULL without calling the new-handler: a handler that
 * throws could not be caught here in C, and nothrow new must not throw.
 * new[] is new: each array form is an alias of its scalar form. */

/* operator new(size_t), new[](size_t) and their nothrow forms */
rallo_export void *_Znwm(size_t size) {
    void *p = rallo_malloc(size);
    return rallo_likely(p != NULL) ? p : new_failed(size, 16);
}
rallo_export void *_Znam(size_t size) rallo_alias(_Znwm);
rallo_export void *_ZnwmRKSt9nothrow_t(size_t size, const nothrow_tag *tag) {
    (void)tag;
    return rallo_malloc(size);
}
rallo_export void *_ZnamRKSt9nothrow_t(size_t size, const nothrow_tag *tag) rallo_alias(_ZnwmRKSt9nothrow_t);

/* operator new(size_t, align_val_t) and friends */
rallo_export void *_ZnwmSt11align_val_t(size_t size, size_t alignment) {
    void *p = new_attempt(size, alignment);
    return rallo_likely(p != NULL) ? p : new_failed(size, alignment);
}
rallo_export void *_ZnamSt11align_val_t(size_t size, size_t alignment) rallo_alias(_ZnwmSt11align_val_t);
rallo_export void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const nothrow_tag *tag) {
    (void)tag;
    return new_attempt(size, alignment);
}
rallo_export void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const nothrow_tag *tag)
    rallo_alias(_ZnwmSt11align_val_tRKSt9nothrow_t);

/* operator delete in every form: the size, alignment and nothrow tag are
 * hints rallo does not need (the block knows its size and alignment). One body
 * per C signature; every other form of that signature is an alias of it. */
rallo_export void _ZdlPv(void *p) {
    rallo_free(p);
}
rallo_export void _ZdaPv(void *p) rallo_alias(_ZdlPv);
/* (void *, size_t): sized, or aligned */
rallo_export void _ZdlPvm(void *p, size_t hint) {
    (void)hint;
    rallo_free(p);
}
rallo_export void _ZdaPvm(void *p, size_t size) rallo_alias(_ZdlPvm);
rallo_export void _ZdlPvSt11align_val_t(void *p, size_t alignment) rallo_alias(_ZdlPvm);
rallo_export void _ZdaPvSt11align_val_t(void *p, size_t alignment) rallo_alias(_ZdlPvm);
/* (void *, size_t, size_t): sized and aligned */
rallo_export void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t alignment) {
    (void)size;
    (void)alignment;
    rallo_free(p);
}
rallo_export void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t alignment)
    rallo_alias(_ZdlPvmSt11align_val_t);
/* (void *, nothrow) */
rallo_export void _ZdlPvRKSt9nothrow_t(void *p, const nothrow_tag *tag) {
    (void)tag;
    rallo_free(p);
}
rallo_export void _ZdaPvRKSt9nothrow_t(void *p, const nothrow_tag *tag) rallo_alias(_ZdlPvRKSt9nothrow_t);
/* (void *, size_t, nothrow): aligned */
rallo_export void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const nothrow_tag *tag) {
    (void)alignment;
    (void)tag;
    rallo_free(p);
}
rallo_export void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const nothrow_tag *tag)
    rallo_alias(_ZdlPvSt11align_val_tRKSt9nothrow_t);
