/* conformance_resize.c - the conformance test's checks of realloc's family
 * (realloc, __libc_realloc, reallocarray, reallocf, reallocarr: contents kept
 * across every size step, a zero size frees, a failure keeps the block, a
 * tracked block resized after rallo_disable) and of blocks at the size
 * extremes (past 64 MiB; 0 to 15 bytes hold 16). main is conformance.c's. */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conformance.h"

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + seed);
}
static void expect_filled(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 31 + seed))
            fail_msg("byte %zu of %zu lost: %d", i, n, p[i]);
}

typedef void *(*resize_fn)(void *p, size_t size);
static void *r_realloc(void *p, size_t n) {
    return realloc(p, n);
}
static void *r_libc_realloc(void *p, size_t n) {
    return __libc_realloc(p, n);
}
static void *r_reallocarray(void *p, size_t n) {
    return reallocarray(p, n, 1);
}
static void *r_reallocf(void *p, size_t n) {
    return reallocf(p, n);
}
static void *r_reallocarr(void *p, size_t n) {
    return reallocarr(&p, 1, n) == 0 ? p : NULL;
}

void test_realloc_keeps_contents(void **state) {
    (void)state;
    static const resize_fn resizers[] = {r_realloc, r_libc_realloc, r_reallocarray, r_reallocf, r_reallocarr};
    static const size_t steps[] = {10, 16, 100, 5000, 200000, 3 * MiB, 200000, 5000, 100, 16, 5, 1};
    for (size_t r = 0; r < sizeof resizers / sizeof resizers[0]; r++) {
        /* Start from a plain block and from an aligned one (a tracked aligned
         * block has a different layout). */
        for (int start = 0; start < 2; start++) {
            unsigned char *p = start == 0 ? malloc(10) : memalign(4096, 10);
            fill(p, 10, 7);
            size_t kept = 10;
            for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
                counted before;
                counted_take(&before);
                p = resizers[r](p, steps[s]);
                assert_non_null(p);
                assert_int_equal((uintptr_t)p % 16, 0);
                assert_true(malloc_usable_size(p) >= steps[s]);
                size_t now = steps[s] < kept ? steps[s] : kept;
                expect_filled(p, now, 7);
                /* Tracking counts a resize as one free and one allocation. */
                expect_counted(&before, 1, 1, 0);
                fill(p, steps[s], 7);
                kept = steps[s];
            }
            free(p);
        }
    }
}

void test_realloc_zero_frees(void **state) {
    (void)state;
    /* glibc documents realloc(p, 0) as free(p), returning NULL. */
    static const resize_fn resizers[] = {r_realloc, r_libc_realloc, r_reallocarray, r_reallocf};
    for (size_t r = 0; r < sizeof resizers / sizeof resizers[0]; r++) {
        void *p = malloc(100);
        counted before;
        counted_take(&before);
        assert_null(resizers[r](p, 0));
        expect_counted(&before, 0, 1, 0);
    }
    /* reallocarr with a zero size frees and sets the pointer to NULL. */
    void *p = malloc(100);
    counted before;
    counted_take(&before);
    assert_int_equal(reallocarr(&p, 0, 8), 0);
    assert_null(p);
    expect_counted(&before, 0, 1, 0);
}

void test_realloc_failure_keeps_block(void **state) {
    (void)state;
    unsigned char *p = malloc(100);
    fill(p, 100, 3);
    counted before;
    counted_take(&before);
    errno = 0;
    assert_null(realloc(p, SIZE_MAX / 2));
    assert_int_equal(errno, ENOMEM);
    /* Past PTRDIFF_MAX, where realloc's one signed compare sends a size. */
    for (size_t beyond = SIZE_MAX / 2 + 1; beyond <= SIZE_MAX / 2 + 16; beyond++) {
        errno = 0;
        assert_null(realloc(p, beyond));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(realloc(p, SIZE_MAX - (beyond - SIZE_MAX / 2 - 1)));
        assert_int_equal(errno, ENOMEM);
    }
    errno = 0;
    assert_null(reallocarray(p, SIZE_MAX / 2, 4)); /* overflow */
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(reallocarray(p, SIZE_MAX / 4, 1));
    assert_int_equal(errno, ENOMEM);
    void *slot = p;
    assert_int_equal(reallocarr(&slot, SIZE_MAX / 2, 4), EOVERFLOW);
    assert_ptr_equal(slot, p);
    assert_int_equal(reallocarr(&slot, SIZE_MAX / 4, 1), ENOMEM);
    assert_ptr_equal(slot, p);
    expect_filled(p, 100, 3);
    expect_counted(&before, 0, 0, 0);
    /* reallocf frees the block when it fails. */
    assert_null(reallocf(p, SIZE_MAX / 2));
    expect_counted(&before, 0, 1, 0);
}

void test_malloc_good_size(void **state) {
    (void)state;
    for (size_t s = 1; s < 10 * MiB; s = s * 3 + 1) {
        size_t good = malloc_good_size(s);
        assert_true(good >= s);
        void *p = malloc(good);
        assert_true(malloc_usable_size(p) >= good);
        free(p);
    }
}

/* Blocks past 64 MiB, the size of one mimalloc segment group: written end to end. */
void test_huge_blocks(void **state) {
    (void)state;
    size_t size = 65 * MiB + 123;
    counted before;
    counted_take(&before);
    unsigned char *p = malloc(size);
    check_block("malloc(huge)", p, size, 16, false);
    p[0] = 1;
    p[size - 1] = 2;
    unsigned char *z = calloc(size, 1);
    check_block("calloc(huge)", z, size, 16, true);
    free(z);
    /* Grow it: the first size bytes come along. */
    for (size_t i = 0; i < size; i += 4096)
        p[i] = (unsigned char)(i >> 12);
    p[size - 1] = 0x77;
    unsigned char *q = realloc(p, 2 * size);
    assert_non_null(q);
    for (size_t i = 0; i < size; i += 4096)
        assert_int_equal(q[i], (unsigned char)(i >> 12));
    assert_int_equal(q[size - 1], 0x77);
    memset(q, 0x11, 2 * size);
    assert_int_equal(q[2 * size - 1], 0x11);
    void *a = NULL;
    assert_int_equal(posix_memalign(&a, 4096, size), 0);
    check_block("posix_memalign(huge)", a, size, 4096, false);
    free(a);
    free(q);
    expect_counted(&before, 4, 4, 0);
}

/* Issue 14.4: a block of 0 to 15 bytes holds 16, tracked or not, and says
 * so; writing them all disturbs no neighbour; the counters keep the size
 * asked for. */
void test_small_blocks_hold_16(void **state) {
    (void)state;
    enum { NEIGHBOURS = 64 };
    for (size_t size = 0; size < 16; size++) {
        unsigned char *blocks[NEIGHBOURS];
        counted before;
        counted_take(&before);
        for (int i = 0; i < NEIGHBOURS; i++) {
            blocks[i] = i % 3 == 0 ? malloc(size) : i % 3 == 1 ? calloc(1, size) : realloc(NULL, size);
            assert_non_null(blocks[i]);
            assert_int_equal((uintptr_t)blocks[i] % 16, 0);
            size_t usable = malloc_usable_size(blocks[i]);
            if (usable < 16)
                fail_msg("%zu bytes asked: malloc_usable_size %zu", size, usable);
            memset(blocks[i], i, 16);
        }
        counted mid;
        counted_take(&mid);
        assert_int_equal(mid.totals.alloc_bytes - before.totals.alloc_bytes,
                         tracking ? NEIGHBOURS * size : 0);
        for (int i = 0; i < NEIGHBOURS; i++)
            for (int k = 0; k < 16; k++)
                if (blocks[i][k] != (unsigned char)i)
                    fail_msg("%zu bytes asked: block %d byte %d overwritten", size, i, k);
        for (int i = 0; i < NEIGHBOURS; i++)
            free(blocks[i]);
        expect_counted(&before, NEIGHBOURS, NEIGHBOURS, 0);
    }
}

/* Issue 14.6: a tracked block reallocated after rallo_disable() leaves the
 * tracked path untracked, and keeps the untracked path's promises. */
void test_realloc_after_disable_keeps_alignment(void **state) {
    (void)state;
    enum { BLOCKS = 200 };
    void *blocks[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        blocks[i] = malloc(100);
        memset(blocks[i], i, 100);
    }
    rallo_disable();
    for (int i = 0; i < BLOCKS; i++) {
        size_t size = 1 + (size_t)i % 15;
        unsigned char *p = realloc(blocks[i], size);
        assert_non_null(p);
        if ((uintptr_t)p % 16 != 0)
            fail_msg("realloc(tracked, %zu) after rallo_disable(): %p is not 16-aligned", size, (void *)p);
        assert_true(malloc_usable_size(p) >= 16);
        for (size_t k = 0; k < size; k++)
            assert_int_equal(p[k], (unsigned char)i);
        blocks[i] = p;
    }
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[i]);
    if (tracking)
        assert_int_equal(rallo_enable(), 0);
}
