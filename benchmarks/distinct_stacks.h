/* distinct_stacks.h - many distinct call stacks for the dump, fork and scrape
 * benchmarks: a path through ten functions, one more call per level, a site's
 * code in base 10 picking which function each call goes to. The barrier after
 * each call keeps it a real call, never a tail call. */
#ifndef RALLO_BENCH_DISTINCT_STACKS_H
#define RALLO_BENCH_DISTINCT_STACKS_H

#include <stdlib.h>

typedef void *(*stack_level_fn)(unsigned code, int level, size_t size);
static stack_level_fn stack_levels[10];
#define STACK_LEVEL(n)                                                                                       \
    __attribute__((noinline)) static void *stack_level##n(unsigned code, int level, size_t size) {           \
        void *p = level == 0 ? malloc(size) : stack_levels[code % 10](code / 10, level - 1, size);           \
        __asm__ volatile("" ::"r"(p) : "memory");                                                            \
        return p;                                                                                            \
    }
/* Each STACK_LEVEL expands to a whole function definition */
/* clang-format off */
STACK_LEVEL(0) STACK_LEVEL(1) STACK_LEVEL(2) STACK_LEVEL(3) STACK_LEVEL(4)
STACK_LEVEL(5) STACK_LEVEL(6) STACK_LEVEL(7) STACK_LEVEL(8) STACK_LEVEL(9)
static stack_level_fn stack_levels[10] = {stack_level0, stack_level1, stack_level2, stack_level3, stack_level4,
                                          stack_level5, stack_level6, stack_level7, stack_level8, stack_level9};
/* clang-format on */

/* malloc(size) at the end of the path `code` picks, `levels` + 1 calls deep
 * (10^(levels + 1) distinct stacks). */
static inline void *stack_malloc(unsigned code, int levels, size_t size) {
    return stack_levels[code % 10](code / 10, levels, size);
}

#endif
