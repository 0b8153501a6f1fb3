/* unwind_bench.c - nanoseconds per unwind of a stack ten frames deep in code
 * built without frame pointers (unwind_chain.c), by rallo's CFI unwinder
 * (tracking/unwind_dwarf.c; also with consecutive stacks one frame apart in
 * depth), by libunwind's unw_backtrace with per-thread
 * caching, by glibc's backtrace (libgcc's unwinder), and by rallo's
 * frame-pointer walk (which stops early there). Each method also reports the
 * depth it found. Usage: unwind_bench [ROUNDS] */
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "../tracking/unwind/unwind_dwarf.h"

typedef uint32_t (*chain_leaf_fn)(void *arg);
uint32_t chain_level1(chain_leaf_fn leaf, void *arg);

enum method {
    RALLO_DWARF,
    RALLO_DWARF_ALTERNATING,
    RALLO_AUTO,
    LIBUNWIND,
    GLIBC_BACKTRACE,
    RALLO_FP,
    METHODS
};
static const char *const method_names[METHODS] = {"rallo dwarf",     "rallo dwarf, depth +-1",
                                                  "rallo auto",      "libunwind unw_backtrace",
                                                  "glibc backtrace", "rallo fp"};

typedef struct bench_run {
    enum method method;
    uint64_t rounds;
    uint32_t depth;
    double ns;
} bench_run;

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* CPU time: the machine is shared */
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Unwinds from its caller, as _rallo_capture_site does from malloc's caller. */
static __attribute__((noinline)) uint32_t unwind_once(enum method method) {
    uintptr_t pcs[64];
    void *frames[64];
    const uintptr_t *record = __builtin_frame_address(0);
    switch (method) {
    case RALLO_DWARF:
    case RALLO_DWARF_ALTERNATING:
    case RALLO_AUTO:
        return _rallo_unwind_cfi(record[1], (uintptr_t)(record + 2), record[0], pcs, 64,
                                 method == RALLO_AUTO ? RALLO_UNWIND_AUTO : RALLO_UNWIND_DWARF);
    case LIBUNWIND: return (uint32_t)unw_backtrace(frames, 64);
    case GLIBC_BACKTRACE: return (uint32_t)backtrace(frames, 64);
    case RALLO_FP: return _rallo_unwind_fp(__builtin_frame_address(0), pcs, 64);
    default: return 0;
    }
}

/* With UNWIND_BENCH_SHOW set: the frames rallo's CFI unwinder finds, named. */
static __attribute__((noinline)) void show_frames(void) {
    uintptr_t pcs[64];
    const uintptr_t *record = __builtin_frame_address(0);
    uint32_t depth =
        _rallo_unwind_cfi(record[1], (uintptr_t)(record + 2), record[0], pcs, 64, RALLO_UNWIND_DWARF);
    for (uint32_t i = 0; i < depth; i++) {
        Dl_info info;
        int named = dladdr((void *)pcs[i], &info);
        printf("  #%u %#lx %s\n", i, (unsigned long)pcs[i], named && info.dli_sname ? info.dli_sname : "?");
    }
}

/* One more frame: every other unwind of "depth +-1" goes through it, so
 * consecutive stacks differ in depth (as allocations from a recursion do) and
 * what the previous unwind left at each depth is off by one. */
static __attribute__((noinline)) uint32_t one_frame_deeper(enum method method) {
    uint32_t depth = unwind_once(method);
    __asm__ volatile("" ::: "memory"); /* a real frame, not a tail call */
    return depth;
}

static uint32_t leaf(void *arg) {
    bench_run *run = arg;
    if (getenv("UNWIND_BENCH_SHOW") != NULL && run->method == RALLO_DWARF)
        show_frames();
    uint32_t depth = 0;
    double start = now_ns();
    if (run->method == RALLO_DWARF_ALTERNATING)
        for (uint64_t i = 0; i < run->rounds; i++)
            depth = (i & 1) ? one_frame_deeper(run->method) : unwind_once(run->method);
    else
        for (uint64_t i = 0; i < run->rounds; i++)
            depth = unwind_once(run->method);
    run->ns = (now_ns() - start) / (double)run->rounds;
    run->depth = depth;
    return depth;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    uint64_t rounds = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    uintptr_t ignored[4];
    _rallo_unwind_fp(__builtin_frame_address(0), ignored, 4); /* learns this thread's stack bounds */
    /* The first unwind compiles the call-frame tables of the modules it meets. */
    bench_run cold = {.method = RALLO_DWARF, .rounds = 1};
    chain_level1(leaf, &cold);
    printf("first rallo unwind, compiling the program's and libc's tables: %.2f ms\n", cold.ns / 1e6);
    enum { REPEATS = 7 };
    double samples[METHODS][REPEATS];
    uint32_t depths[METHODS] = {0};
    /* Interleaved: each repeat runs every method once, so drift hits all alike. */
    for (int repeat = 0; repeat < REPEATS; repeat++)
        for (int m = 0; m < METHODS; m++) {
            bench_run run = {.method = (enum method)m, .rounds = rounds};
            chain_level1(leaf, &run);
            samples[m][repeat] = run.ns;
            depths[m] = run.depth;
        }
    printf("%-26s %8s %6s   (median of %d runs of %llu unwinds, from a leaf 10 frames below main)\n",
           "method", "ns/unwind", "depth", REPEATS, (unsigned long long)rounds);
    for (int m = 0; m < METHODS; m++) {
        qsort(samples[m], REPEATS, sizeof(double), compare_double);
        printf("%-26s %8.1f %6u\n", method_names[m], samples[m][REPEATS / 2], depths[m]);
    }
    return 0;
}
