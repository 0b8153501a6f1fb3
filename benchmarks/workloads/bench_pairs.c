/* bench_pairs.c - the micro program callgrind counts: N malloc+free pairs of
 * sizes 16..256 made through an eight-frame call chain (so the tracked path
 * unwinds a realistic stack), cycling through a window of 16 live blocks.
 * Usage: bench_pairs N [none]
 * "none" runs the same loop without calling the allocator, so the harness's
 * own instructions can be subtracted. Instructions per pair are taken as the
 * difference of two runs with different N, divided by the difference in N. */
#include "bench_common.h"

#define WINDOW 16

static int skip_allocator;
static char stand_in[256];

BENCH_NOINLINE static void *leaf_alloc(size_t size) {
    return skip_allocator ? (void *)stand_in : malloc(size);
}
BENCH_NOINLINE static void leaf_free(void *p) {
    if (!skip_allocator)
        free(p);
}

#define LEVEL(name, next)                                                                                    \
    BENCH_NOINLINE static void *name(size_t size) {                                                          \
        void *p = next(size);                                                                                \
        BENCH_KEEP_FRAME();                                                                                  \
        return p;                                                                                            \
    }
/* Each LEVEL expands to a whole function definition */
/* clang-format off */
LEVEL(level7, leaf_alloc) LEVEL(level6, level7) LEVEL(level5, level6) LEVEL(level4, level5)
LEVEL(level3, level4) LEVEL(level2, level3) LEVEL(level1, level2)
int main(int argc, char **argv);
/* clang-format on */

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_pairs N [none]\n");
        return 2;
    }
    uint64_t pairs = strtoull(argv[1], NULL, 10);
    skip_allocator = argc > 2 && strcmp(argv[2], "none") == 0;
    void *window[WINDOW] = {0};
    uint64_t sizes = 0;
    bench_rng rng = {0x9a125ull};
    for (uint64_t i = 0; i < pairs; i++) {
        size_t slot = i % WINDOW;
        leaf_free(window[slot]);
        size_t size = 16 + bench_below(&rng, 241);
        window[slot] = level1(size);
        ((volatile char *)window[slot])[0] = 1;
        sizes += size;
    }
    for (size_t slot = 0; slot < WINDOW; slot++)
        leaf_free(window[slot]);
    printf("pairs=%llu bytes=%llu\n", (unsigned long long)pairs, (unsigned long long)sizes);
    return 0;
}
