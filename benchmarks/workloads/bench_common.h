/* bench_common.h - what every benchmark workload shares: a fixed-seed random
 * generator, the counting wrapper around the workload's own allocation calls,
 * and the one result line run.py reads (with rallo's totals when the program
 * runs under librallo, found by dlsym so one binary runs under every
 * allocator and profiler).
 *
 * Counting rules are rallo's, valgrind's and heaptrack's: a realloc that
 * returns a block counts one allocation of the new size; calloc(n, m) counts
 * n*m bytes; sizes are the requested ones. Counts are per thread (no shared
 * cache line on the hot path) and added up when a thread finishes its work. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_NOINLINE __attribute__((noinline))
/* Keeps a call from becoming a tail jump, so every level stays a real frame. */
#define BENCH_KEEP_FRAME() __asm__ volatile("" ::: "memory")

/* A call chain ten frames deep, chain_0 (the entry) down to chain_9, which
 * calls leaf(size, tag): distinct deep stacks for a profiler to tell apart.
 * Expands to whole function definitions (no ';' after it). */
#define BENCH_CHAIN_LEVEL(type, chain, level, next)                                                          \
    BENCH_NOINLINE static type chain##_##level(size_t size, uint64_t tag) {                                  \
        type result = next(size, tag);                                                                       \
        BENCH_KEEP_FRAME();                                                                                  \
        return result;                                                                                       \
    }
#define BENCH_CHAIN(type, chain, leaf)                                                                       \
    BENCH_CHAIN_LEVEL(type, chain, 9, leaf)                                                                  \
    BENCH_CHAIN_LEVEL(type, chain, 8, chain##_9)                                                             \
    BENCH_CHAIN_LEVEL(type, chain, 7, chain##_8)                                                             \
    BENCH_CHAIN_LEVEL(type, chain, 6, chain##_7)                                                             \
    BENCH_CHAIN_LEVEL(type, chain, 5, chain##_6)                                                             \
    BENCH_CHAIN_LEVEL(type, chain, 4, chain##_5)                                                             \
    BENCH_CHAIN_LEVEL(type, chain, 3, chain##_4)                                                             \
    BENCH_CHAIN_LEVEL(type, chain, 2, chain##_3)                                                             \
    BENCH_CHAIN_LEVEL(type, chain, 1, chain##_2)                                                             \
    BENCH_CHAIN_LEVEL(type, chain, 0, chain##_1)
/* Four such chains into one leaf, and `chains`, their entries, to pick from. */
#define BENCH_FOUR_CHAINS(type, leaf, a, b, c, d)                                                            \
    BENCH_CHAIN(type, a, leaf)                                                                               \
    BENCH_CHAIN(type, b, leaf)                                                                               \
    BENCH_CHAIN(type, c, leaf)                                                                               \
    BENCH_CHAIN(type, d, leaf)                                                                               \
    typedef type (*chain_fn)(size_t, uint64_t);                                                              \
    static const chain_fn chains[4] = {a##_0, b##_0, c##_0, d##_0};

/* ---- fixed-seed random numbers (splitmix64) ---- */
typedef struct bench_rng {
    uint64_t state;
} bench_rng;

static inline uint64_t bench_next(bench_rng *rng) {
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline uint64_t bench_below(bench_rng *rng, uint64_t bound) {
    return bench_next(rng) % bound;
}

/* ---- the counting wrapper ---- */
typedef struct bench_counts {
    uint64_t allocs, bytes, frees;
} bench_counts;

static _Thread_local bench_counts bench_thread_counts;
static _Atomic uint64_t bench_total_allocs, bench_total_bytes, bench_total_frees;

static inline void *bench_malloc(size_t size) {
    bench_thread_counts.allocs++;
    bench_thread_counts.bytes += size;
    return malloc(size);
}
static inline void *bench_calloc(size_t count, size_t size) {
    bench_thread_counts.allocs++;
    bench_thread_counts.bytes += count * size;
    return calloc(count, size);
}
/* Never called with size 0: realloc(p, 0) frees and counts no allocation. */
static inline void *bench_realloc(void *p, size_t size) {
    if (p != NULL)
        bench_thread_counts.frees++;
    bench_thread_counts.allocs++;
    bench_thread_counts.bytes += size;
    return realloc(p, size);
}
static inline void bench_free(void *p) {
    if (p != NULL)
        bench_thread_counts.frees++;
    free(p);
}
static inline char *bench_strdup(const char *text) {
    size_t length = strlen(text) + 1;
    char *copy = bench_malloc(length);
    memcpy(copy, text, length);
    return copy;
}

/* Adds this thread's counts to the process's; call once when a thread is done. */
static inline void bench_flush_counts(void) {
    atomic_fetch_add(&bench_total_allocs, bench_thread_counts.allocs);
    atomic_fetch_add(&bench_total_bytes, bench_thread_counts.bytes);
    atomic_fetch_add(&bench_total_frees, bench_thread_counts.frees);
    memset(&bench_thread_counts, 0, sizeof bench_thread_counts);
}

/* ---- rallo's totals, when librallo is the allocator ---- */
typedef struct bench_rallo_totals {
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
    uint64_t live_count, live_bytes, peak_live_bytes;
    uint64_t untracked_count;
} bench_rallo_totals;
typedef void (*bench_totals_fn)(bench_rallo_totals *);

static bench_rallo_totals bench_rallo_before;

/* rallo_site as include/rallo.h gives it, for the depot's size. */
typedef struct bench_rallo_site {
    uint32_t site_id, depth;
    const void *const *frames;
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes, live_count, live_bytes;
} bench_rallo_site;
typedef int (*bench_site_fn)(const bench_rallo_site *, void *);
typedef int (*bench_for_each_site_fn)(bench_site_fn, void *);

static int bench_site_visit(const bench_rallo_site *site, void *arg) {
    uint64_t *sites_and_frames = arg;
    sites_and_frames[0]++;
    sites_and_frames[1] += site->depth;
    return 0;
}

static inline bench_totals_fn bench_rallo_totals_fn(void) {
    return (bench_totals_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "rallo_get_totals");
}

/* Call right before the measured work (threads already created and waiting):
 * nothing the program does between this and bench_report may allocate except
 * through the wrapper. */
static inline void bench_begin(void) {
    bench_totals_fn totals = bench_rallo_totals_fn();
    if (totals != NULL)
        totals(&bench_rallo_before);
}

/* One line for run.py: the workload's own counts, rallo's (delta over the
 * measured work) when present, and the self-check's verdict. */
static inline int bench_report(const char *name, int ok, uint64_t checksum) {
    bench_flush_counts();
    bench_totals_fn totals = bench_rallo_totals_fn();
    char rallo[256] = "rallo=n/a";
    if (totals != NULL) {
        bench_rallo_totals after;
        totals(&after);
        snprintf(rallo, sizeof rallo, "rallo_allocs=%llu rallo_bytes=%llu rallo_untracked=%llu",
                 (unsigned long long)(after.alloc_count - bench_rallo_before.alloc_count),
                 (unsigned long long)(after.alloc_bytes - bench_rallo_before.alloc_bytes),
                 (unsigned long long)(after.untracked_count - bench_rallo_before.untracked_count));
        /* The depot's payload: sites that counted something and their frames. */
        bench_for_each_site_fn for_each =
            (bench_for_each_site_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "rallo_for_each_site");
        uint64_t sites_and_frames[2] = {0, 0};
        if (for_each != NULL && for_each(bench_site_visit, sites_and_frames) >= 0) {
            size_t used = strlen(rallo);
            snprintf(rallo + used, sizeof rallo - used, " rallo_sites=%llu rallo_frames=%llu",
                     (unsigned long long)sites_and_frames[0], (unsigned long long)sites_and_frames[1]);
        }
    }
    printf("BENCH name=%s ok=%d checksum=%016llx allocs=%llu bytes=%llu frees=%llu %s\n", name, ok,
           (unsigned long long)checksum, (unsigned long long)atomic_load(&bench_total_allocs),
           (unsigned long long)atomic_load(&bench_total_bytes),
           (unsigned long long)atomic_load(&bench_total_frees), rallo);
    if (!ok)
        fprintf(stderr, "%s: self-check FAILED\n", name);
    return ok ? 0 : 1;
}

/* argv[1]: the size as a fraction of the full run (default 1.0). */
static inline double bench_scale(int argc, char **argv) {
    double scale = argc > 1 ? atof(argv[1]) : 1.0;
    if (!(scale > 0.0 && scale <= 100.0)) {
        fprintf(stderr, "scale must be in (0, 100]: %s\n", argv[1]);
        exit(2);
    }
    return scale;
}

#endif
