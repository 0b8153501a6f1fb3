/* compiler.h - the compiler and linker words every room of rallo uses: branch
 * hints, symbol visibility, and the debug assertions compiled out of release
 * builds. Nothing here knows about allocation. */
#ifndef RALLO_COMPILER_H
#define RALLO_COMPILER_H

#define rallo_likely(x) __builtin_expect(!!(x), 1)
#define rallo_unlikely(x) __builtin_expect(!!(x), 0)
/* Shared between files of one library, never exported. */
#define rallo_internal __attribute__((visibility("hidden")))
/* Exported from the library: the allocation family, the rallo_* API, and
 * the one door between librallo and the report libraries. */
#define rallo_export __attribute__((visibility("default")))
#define rallo_noinline __attribute__((noinline))
/* Another name for `target`, a function defined in the same file: the
 * linker's alias, so that every spelling of one entry point is one body. It
 * promises callers what the target's declaration promises (copy: the system
 * header's malloc, nothrow, alloc_size...), as mimalloc's aliases do. */
#define rallo_alias(target) __attribute__((alias(#target), copy(target)))

/* Debug assertions in tiers, as mimalloc's mi_assert levels: the invariants
 * rallo relies on, checked only in a debug build (cmake -DRALLO_DEBUG=N).
 *   0 (release): none, and the conditions are not even evaluated;
 *   1: rallo_assert, off the hot path (start, depot insertions, slow paths);
 *   2: rallo_assert_hot too, on every tracked malloc and free.
 * A failed one says which, in one line, and aborts. */
#ifndef RALLO_DEBUG
#define RALLO_DEBUG 0
#endif
__attribute__((noreturn, cold)) void _rallo_assert_fail(const char *condition, const char *file,
                                                        int line) rallo_internal;
#if RALLO_DEBUG > 0
#define rallo_assert(condition)                                                                              \
    (rallo_likely(condition) ? (void)0 : _rallo_assert_fail(#condition, __FILE__, __LINE__))
#else
#define rallo_assert(condition) ((void)0)
#endif
#if RALLO_DEBUG > 1
#define rallo_assert_hot(condition) rallo_assert(condition)
#else
#define rallo_assert_hot(condition) ((void)0)
#endif

#endif
