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

#endif
