/* conformance.h - what the two files of the conformance test share
 * (conformance.c: the allocation entry points, their errors and symbols, and
 * main; conformance_resize.c: realloc's family and blocks at the size
 * extremes): whether tracking is on, the counted deltas every test checks,
 * the checks every fresh block passes. */
#ifndef RALLO_TEST_CONFORMANCE_H
#define RALLO_TEST_CONFORMANCE_H

#include <stdbool.h>
#include <stddef.h>

#include "entry-points.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
/* rallo tracks alignments up to this; larger ones are served untracked. */
#define TRACKED_ALIGN_MAX MiB

/* Set by main from its argument (on|off). */
extern bool tracking;

/* ---- what tracking counted: deltas around each call ---- */
typedef struct counted {
    rallo_totals totals;
    rallo_untracked untracked;
} counted;
void counted_take(counted *c);
/* With tracking on: exactly `allocs` allocations and `frees` frees were
 * counted since `before`, and `untracked_align` were served untracked for
 * their alignment. With tracking off: nothing was counted. */
void expect_counted(const counted *before, uint64_t allocs, uint64_t frees, uint64_t untracked_align);

/* The checks every fresh block passes; `expected` is its alignment. */
void check_block(const char *name, unsigned char *p, size_t size, size_t expected, bool zeroed);

/* ---- conformance_resize.c ---- */
void test_realloc_keeps_contents(void **state);
void test_realloc_zero_frees(void **state);
void test_realloc_failure_keeps_block(void **state);
void test_malloc_good_size(void **state);
void test_huge_blocks(void **state);
void test_small_blocks_hold_16(void **state);
void test_realloc_after_disable_keeps_alignment(void **state);

#endif
