/* conformance.c - every allocation entry point librallo defines, checked
 * against what glibc documents: alignment (16, or the requested one), sizes,
 * zeroing, error codes (realloc's family and huge and tiny blocks are in
 * conformance_resize.c); and that each call really went through rallo (with
 * tracking on, each allocation and each free is counted once). Run as
 * `conformance off|on`: the same binary runs linked with librallo and under
 * LD_PRELOAD (see CMakeLists.txt). Every test fails if anything (mimalloc,
 * rallo) wrote to stderr meanwhile. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conformance.h"

bool tracking;

/* ---- what tracking counted: deltas around each call ---- */

void counted_take(counted *c) {
    rallo_get_totals(&c->totals);
    rallo_get_untracked(&c->untracked);
}

void expect_counted(const counted *before, uint64_t allocs, uint64_t frees, uint64_t untracked_align) {
    counted now;
    counted_take(&now);
    if (!tracking) {
        allocs = frees = untracked_align = 0;
    }
    assert_int_equal(now.totals.alloc_count - before->totals.alloc_count, allocs);
    assert_int_equal(now.totals.free_count - before->totals.free_count, frees);
    assert_int_equal(now.untracked.alignment - before->untracked.alignment, untracked_align);
    assert_int_equal(now.untracked.bad_header - before->untracked.bad_header, 0);
}

/* ---- stderr must stay silent: captured around every test ---- */

static int saved_stderr = -1;
static FILE *captured_stderr;

static int capture_stderr(void **state) {
    (void)state;
    fflush(stderr);
    captured_stderr = tmpfile();
    assert_non_null(captured_stderr);
    saved_stderr = dup(2);
    dup2(fileno(captured_stderr), 2);
    return 0;
}

static int expect_silent_stderr(void **state) {
    (void)state;
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    char text[4096];
    size_t length = (size_t)ftell(captured_stderr);
    rewind(captured_stderr);
    size_t got = fread(text, 1, sizeof text - 1, captured_stderr);
    text[got] = '\0';
    fclose(captured_stderr);
    if (length != 0) {
        fprintf(stderr, "unexpected stderr output (%zu bytes):\n%s\n", length, text);
        return -1; /* cmocka reports the teardown as failed */
    }
    return 0;
}

/* ---- the allocation entry points as one table ---- */

typedef enum { ALIGN_DEFAULT, ALIGN_REQUESTED, ALIGN_PAGE } align_kind;

typedef struct entry {
    const char *name;
    void *(*alloc)(size_t size, size_t alignment);
    align_kind kind;
    bool zeroes;
    size_t min_alignment; /* smallest alignment the entry accepts */
} entry;

static void *e_malloc(size_t n, size_t a) {
    (void)a;
    return malloc(n);
}
static void *e_calloc(size_t n, size_t a) {
    (void)a;
    return calloc(1, n);
}
static void *e_calloc_n(size_t n, size_t a) {
    (void)a;
    return calloc(n, 1);
}
static void *e_realloc(size_t n, size_t a) {
    (void)a;
    return realloc(NULL, n);
}
static void *e_reallocarray(size_t n, size_t a) {
    (void)a;
    return reallocarray(NULL, 1, n);
}
static void *e_reallocf(size_t n, size_t a) {
    (void)a;
    return reallocf(NULL, n);
}
static void *e_reallocarr(size_t n, size_t a) {
    (void)a;
    void *p = NULL;
    if (n == 0) /* reallocarr(&NULL, 0) leaves NULL, by design */
        n = 1;
    return reallocarr(&p, n, 1) == 0 ? p : NULL;
}
static void *e_posix_memalign(size_t n, size_t a) {
    void *p = NULL;
    return posix_memalign(&p, a, n) == 0 ? p : NULL;
}
static void *e___posix_memalign(size_t n, size_t a) {
    void *p = NULL;
    return __posix_memalign(&p, a, n) == 0 ? p : NULL;
}
static void *e_aligned_alloc(size_t n, size_t a) {
    return aligned_alloc(a, n);
}
static void *e_memalign(size_t n, size_t a) {
    return memalign(a, n);
}
static void *e__aligned_malloc(size_t n, size_t a) {
    return _aligned_malloc(n, a);
}
static void *e_valloc(size_t n, size_t a) {
    (void)a;
    return valloc(n);
}
static void *e_pvalloc(size_t n, size_t a) {
    (void)a;
    return pvalloc(n);
}
static void *e___libc_malloc(size_t n, size_t a) {
    (void)a;
    return __libc_malloc(n);
}
static void *e___libc_calloc(size_t n, size_t a) {
    (void)a;
    return __libc_calloc(n, 1);
}
static void *e___libc_realloc(size_t n, size_t a) {
    (void)a;
    return __libc_realloc(NULL, n);
}
static void *e___libc_memalign(size_t n, size_t a) {
    return __libc_memalign(a, n);
}
static void *e___libc_valloc(size_t n, size_t a) {
    (void)a;
    return __libc_valloc(n);
}
static void *e___libc_pvalloc(size_t n, size_t a) {
    (void)a;
    return __libc_pvalloc(n);
}

static const entry entries[] = {
    {"malloc", e_malloc, ALIGN_DEFAULT, false, 0},
    {"calloc(1,n)", e_calloc, ALIGN_DEFAULT, true, 0},
    {"calloc(n,1)", e_calloc_n, ALIGN_DEFAULT, true, 0},
    {"realloc(NULL,n)", e_realloc, ALIGN_DEFAULT, false, 0},
    {"reallocarray(NULL,1,n)", e_reallocarray, ALIGN_DEFAULT, false, 0},
    {"reallocf(NULL,n)", e_reallocf, ALIGN_DEFAULT, false, 0},
    {"reallocarr", e_reallocarr, ALIGN_DEFAULT, false, 0},
    {"posix_memalign", e_posix_memalign, ALIGN_REQUESTED, false, sizeof(void *)},
    {"__posix_memalign", e___posix_memalign, ALIGN_REQUESTED, false, sizeof(void *)},
    {"aligned_alloc", e_aligned_alloc, ALIGN_REQUESTED, false, 1},
    {"memalign", e_memalign, ALIGN_REQUESTED, false, 1},
    {"_aligned_malloc", e__aligned_malloc, ALIGN_REQUESTED, false, 1},
    {"valloc", e_valloc, ALIGN_PAGE, false, 0},
    {"pvalloc", e_pvalloc, ALIGN_PAGE, false, 0},
    {"__libc_malloc", e___libc_malloc, ALIGN_DEFAULT, false, 0},
    {"__libc_calloc", e___libc_calloc, ALIGN_DEFAULT, true, 0},
    {"__libc_realloc(NULL,n)", e___libc_realloc, ALIGN_DEFAULT, false, 0},
    {"__libc_memalign", e___libc_memalign, ALIGN_REQUESTED, false, 1},
    {"__libc_valloc", e___libc_valloc, ALIGN_PAGE, false, 0},
    {"__libc_pvalloc", e___libc_pvalloc, ALIGN_PAGE, false, 0},
};
#define ENTRIES (sizeof entries / sizeof entries[0])

/* The C frees, taken in turn, so every one of them frees every kind of block. */
static void (*const frees[])(void *) = {free, cfree, vfree, __libc_free, __libc_cfree};
#define FREES (sizeof frees / sizeof frees[0])

static const size_t sizes[] = {0, 1, 7, 8, 15, 16, 17, 24, 100, 1000, 4096, 65536, 300000, 3 * MiB};
#define SIZES (sizeof sizes / sizeof sizes[0])

static size_t page_size(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

void check_block(const char *name, unsigned char *p, size_t size, size_t expected, bool zeroed) {
    if (p == NULL)
        fail_msg("%s(%zu) returned NULL", name, size);
    if ((uintptr_t)p % expected != 0)
        fail_msg("%s(%zu): %p is not %zu-aligned", name, size, (void *)p, expected);
    size_t usable = malloc_usable_size(p);
    if (usable < size)
        fail_msg("%s(%zu): malloc_usable_size %zu", name, size, usable);
    assert_int_equal(malloc_size(p), usable);
    if (zeroed) {
        for (size_t i = 0; i < size; i++)
            if (p[i] != 0)
                fail_msg("%s(%zu): byte %zu is %d, not 0", name, size, i, p[i]);
    }
    /* The whole usable size is ours to write. */
    memset(p, 0x5a, usable);
}

static void check_entry(const entry *e, size_t size, size_t alignment, unsigned *which_free) {
    size_t expected = 16;
    if (e->kind == ALIGN_REQUESTED && alignment > expected)
        expected = alignment;
    if (e->kind == ALIGN_PAGE)
        expected = page_size();
    bool untracked_align = e->kind == ALIGN_REQUESTED && alignment > TRACKED_ALIGN_MAX;
    counted before;
    counted_take(&before);
    unsigned char *p = e->alloc(size, alignment);
    check_block(e->name, p, size, expected, e->zeroes);
    if (e->kind == ALIGN_PAGE && strstr(e->name, "pvalloc") != NULL)
        assert_true(malloc_usable_size(p) >= ((size + page_size() - 1) & ~(page_size() - 1)));
    expect_counted(&before, untracked_align ? 0 : 1, 0, untracked_align ? 1 : 0);
    frees[(*which_free)++ % FREES](p);
    expect_counted(&before, untracked_align ? 0 : 1, untracked_align ? 0 : 1, untracked_align ? 1 : 0);
}

static void test_every_allocation_entry_point(void **state) {
    (void)state;
    unsigned which_free = 0;
    for (size_t i = 0; i < ENTRIES; i++) {
        const entry *e = &entries[i];
        if (e->kind != ALIGN_REQUESTED) {
            for (size_t s = 0; s < SIZES; s++)
                check_entry(e, sizes[s], 0, &which_free);
            continue;
        }
        /* Every power of two from what the entry accepts up to 64 MiB: above
         * rallo's tracked limit (1 MiB) and mimalloc's arena limit (16 MiB). */
        for (size_t alignment = e->min_alignment; alignment <= 64 * MiB; alignment <<= 1) {
            for (size_t s = 0; s < SIZES; s++) {
                if (alignment > 64 * KiB && sizes[s] != 1 && sizes[s] != 300000)
                    continue; /* keeps the big alignments quick */
                check_entry(e, sizes[s], alignment, &which_free);
            }
        }
    }
}

/* Sizes that are multiples of the alignment (what alignas types give operator
 * new): mimalloc 2.0.9 serves them from plain blocks that are not always
 * aligned. Many live at once, so blocks at every offset in a page come up. */
static void test_sizes_multiple_of_alignment(void **state) {
    (void)state;
    enum { LIVE = 64 };
    for (size_t i = 0; i < ENTRIES; i++) {
        const entry *e = &entries[i];
        if (e->kind != ALIGN_REQUESTED)
            continue;
        for (size_t alignment = 32; alignment <= 64 * KiB; alignment <<= 1) {
            for (size_t multiple = 1; multiple <= 3; multiple++) {
                void *live[LIVE];
                for (int k = 0; k < LIVE; k++) {
                    live[k] = e->alloc(multiple * alignment, alignment);
                    check_block(e->name, live[k], multiple * alignment, alignment, false);
                }
                for (int k = 0; k < LIVE; k++)
                    free(live[k]);
            }
        }
    }
    for (int form = NEW_ALIGNED; form < NEW_FORMS; form++) {
        void *live[LIVE];
        for (int k = 0; k < LIVE; k++) {
            live[k] = test_new(form, 512, 256);
            check_block("operator new(512, align 256)", live[k], 512, 256, false);
        }
        for (int k = 0; k < LIVE; k++)
            test_delete(form, k, live[k], 512, 256);
    }
}

/* Every C++ operator new form, freed by every matching delete form. */
static void test_every_operator_new_and_delete(void **state) {
    (void)state;
    static const size_t new_sizes[] = {0, 1, 8, 24, 1000, 300000};
    for (int form = 0; form < NEW_FORMS; form++) {
        bool aligned = test_new_is_aligned_form(form);
        for (size_t alignment = aligned ? 1 : 16; alignment <= (aligned ? 32 * MiB : 16); alignment <<= 1) {
            for (size_t s = 0; s < sizeof new_sizes / sizeof new_sizes[0]; s++) {
                for (int del = 0; del < 3; del++) {
                    size_t size = new_sizes[s];
                    bool untracked_align = alignment > TRACKED_ALIGN_MAX;
                    counted before;
                    counted_take(&before);
                    unsigned char *p = test_new(form, size, alignment);
                    check_block("operator new", p, size, alignment > 16 ? alignment : 16, false);
                    expect_counted(&before, untracked_align ? 0 : 1, 0, untracked_align ? 1 : 0);
                    test_delete(form, del, p, size, alignment);
                    expect_counted(&before, untracked_align ? 0 : 1, untracked_align ? 0 : 1,
                                   untracked_align ? 1 : 0);
                }
            }
        }
    }
}

static void test_operator_new_failure(void **state) {
    (void)state;
    size_t impossible = SIZE_MAX / 2;
    assert_true(test_new_throws_bad_alloc(impossible, false));
    assert_true(test_new_throws_bad_alloc(impossible, true));
    assert_null(test_new(NEW_NOTHROW, impossible, 16));
    assert_null(test_new(NEW_ARRAY_NOTHROW, impossible, 16));
    assert_null(test_new(NEW_ALIGNED_NOTHROW, impossible, 64));
    assert_null(test_new(NEW_ARRAY_ALIGNED_NOTHROW, impossible, 64));
    /* The new-handler is called, then (once it uninstalls itself) bad_alloc. */
    assert_int_equal(test_new_handler_calls(impossible), 1);
}

static void test_free_null_everywhere(void **state) {
    (void)state;
    counted before;
    counted_take(&before);
    for (size_t i = 0; i < FREES; i++)
        frees[i](NULL);
    for (int form = 0; form < NEW_FORMS; form++)
        for (int del = 0; del < 3; del++)
            test_delete(form, del, NULL, 0, 64);
    assert_int_equal(malloc_usable_size(NULL), 0);
    assert_int_equal(malloc_size(NULL), 0);
    expect_counted(&before, 0, 0, 0);
}

static void test_calloc_zeroes_reused_memory(void **state) {
    (void)state;
    /* Dirty blocks of each size, free them, and calloc the same sizes: mimalloc
     * hands the dirty blocks back, calloc must clear them. */
    for (size_t s = 0; s < SIZES; s++) {
        void *dirty[8];
        for (int i = 0; i < 8; i++) {
            dirty[i] = malloc(sizes[s]);
            memset(dirty[i], 0xab, malloc_usable_size(dirty[i]));
        }
        for (int i = 0; i < 8; i++)
            free(dirty[i]);
        for (int i = 0; i < 8; i++) {
            dirty[i] = calloc(sizes[s], 1);
            check_block("calloc", dirty[i], sizes[s], 16, true);
        }
        for (int i = 0; i < 8; i++)
            free(dirty[i]);
    }
}

static void test_calloc_overflow(void **state) {
    (void)state;
    counted before;
    counted_take(&before);
    errno = 0;
    assert_null(calloc(SIZE_MAX / 2, 4));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(__libc_calloc(SIZE_MAX / 2, 4));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(calloc(4, SIZE_MAX / 2));
    assert_int_equal(errno, ENOMEM);
    expect_counted(&before, 0, 0, 0);
}

static void test_impossible_sizes(void **state) {
    (void)state;
    volatile size_t huge = SIZE_MAX; /* volatile: no compile-time size warning */
    counted before;
    counted_take(&before);
    void *(*const allocs[])(size_t) = {malloc, __libc_malloc, valloc, pvalloc, __libc_valloc, __libc_pvalloc};
    for (size_t i = 0; i < sizeof allocs / sizeof allocs[0]; i++) {
        errno = 0;
        assert_null(allocs[i](huge));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(allocs[i](huge / 2));
        assert_int_equal(errno, ENOMEM);
        /* The smallest size beyond any block, and the last 16 below SIZE_MAX:
         * malloc tells both from the common case with one signed compare. */
        for (size_t beyond = huge / 2 + 1; beyond <= huge / 2 + 16; beyond++) {
            errno = 0;
            assert_null(allocs[i](beyond));
            assert_int_equal(errno, ENOMEM);
            errno = 0;
            assert_null(allocs[i](huge - (beyond - huge / 2 - 1)));
            assert_int_equal(errno, ENOMEM);
        }
    }
    for (size_t beyond = huge / 2 + 1; beyond <= huge / 2 + 16; beyond++) {
        errno = 0;
        assert_null(calloc(1, beyond));
        assert_int_equal(errno, ENOMEM);
    }
    errno = 0;
    assert_null(aligned_alloc(64, huge - 100));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(memalign(64, huge / 2));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(_aligned_malloc(huge / 2, 4096));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(realloc(NULL, huge / 2));
    assert_int_equal(errno, ENOMEM);
    expect_counted(&before, 0, 0, 0);
}

static void test_posix_memalign_errors(void **state) {
    (void)state;
    static const size_t bad[] = {0, 3, 24, sizeof(void *) / 2, 1, 48, ((size_t)1 << 20) + 16};
    void *sentinel = (void *)0x1234;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *p = sentinel;
        errno = 0;
        assert_int_equal(posix_memalign(&p, bad[i], 100), EINVAL);
        assert_ptr_equal(p, sentinel); /* untouched on failure */
        assert_int_equal(errno, 0);    /* reported by the result, not errno */
        assert_int_equal(__posix_memalign(&p, bad[i], 100), EINVAL);
        assert_ptr_equal(p, sentinel);
    }
    void *p = sentinel;
    errno = 0;
    assert_int_equal(posix_memalign(&p, 64, SIZE_MAX - 100), ENOMEM);
    assert_ptr_equal(p, sentinel);
    assert_int_equal(errno, 0);
    assert_int_equal(posix_memalign(&p, 4096, SIZE_MAX / 2), ENOMEM);
    assert_int_equal(__posix_memalign(&p, 64, SIZE_MAX / 2), ENOMEM);
    assert_ptr_equal(p, sentinel);
}

static void test_aligned_alloc_errors(void **state) {
    (void)state;
    static const size_t bad[] = {0, 3, 24, 48, 100};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        assert_null(aligned_alloc(bad[i], 64));
        assert_int_equal(errno, EINVAL);
        errno = 0;
        assert_null(_aligned_malloc(64, bad[i]));
        assert_int_equal(errno, EINVAL);
    }
    /* memalign, like glibc's, rounds a non-power-of-two alignment up. */
    void *p = memalign(24, 100);
    check_block("memalign(24)", p, 100, 32, false);
    free(p);
    p = memalign(0, 100);
    check_block("memalign(0)", p, 100, 16, false);
    free(p);
}

/* The process's allocation symbols resolve to librallo, whichever way it was loaded. */
static void test_symbols_resolve_to_rallo(void **state) {
    (void)state;
    static const char *const names[] = {"malloc",
                                        "free",
                                        "calloc",
                                        "realloc",
                                        "reallocarray",
                                        "reallocf",
                                        "reallocarr",
                                        "posix_memalign",
                                        "__posix_memalign",
                                        "aligned_alloc",
                                        "memalign",
                                        "valloc",
                                        "pvalloc",
                                        "malloc_usable_size",
                                        "malloc_size",
                                        "malloc_good_size",
                                        "cfree",
                                        "vfree",
                                        "_aligned_malloc",
                                        "__libc_malloc",
                                        "__libc_calloc",
                                        "__libc_realloc",
                                        "__libc_free",
                                        "__libc_cfree",
                                        "__libc_memalign",
                                        "__libc_valloc",
                                        "__libc_pvalloc",
                                        "_Znwm",
                                        "_Znam",
                                        "_ZnwmRKSt9nothrow_t",
                                        "_ZnamRKSt9nothrow_t",
                                        "_ZnwmSt11align_val_t",
                                        "_ZnamSt11align_val_t",
                                        "_ZnwmSt11align_val_tRKSt9nothrow_t",
                                        "_ZnamSt11align_val_tRKSt9nothrow_t",
                                        "_ZdlPv",
                                        "_ZdaPv",
                                        "_ZdlPvm",
                                        "_ZdaPvm",
                                        "_ZdlPvSt11align_val_t",
                                        "_ZdaPvSt11align_val_t",
                                        "_ZdlPvmSt11align_val_t",
                                        "_ZdaPvmSt11align_val_t",
                                        "_ZdlPvRKSt9nothrow_t",
                                        "_ZdaPvRKSt9nothrow_t",
                                        "_ZdlPvSt11align_val_tRKSt9nothrow_t",
                                        "_ZdaPvSt11align_val_tRKSt9nothrow_t"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *address = dlsym(RTLD_DEFAULT, names[i]);
        Dl_info info;
        if (address == NULL || dladdr(address, &info) == 0 || info.dli_fname == NULL)
            fail_msg("%s: not found", names[i]);
        if (strstr(info.dli_fname, "librallo.so") == NULL)
            fail_msg("%s resolves to %s, not librallo", names[i], info.dli_fname);
    }
}

static void test_tracking_state(void **state) {
    (void)state;
    assert_int_equal(rallo_is_enabled(), tracking ? 1 : 0);
    /* One malloc and one free: counted exactly when tracking is on. */
    counted before;
    counted_take(&before);
    void *p = malloc(1234);
    escape(p);
    counted mid;
    counted_take(&mid);
    assert_int_equal(mid.totals.alloc_bytes - before.totals.alloc_bytes, tracking ? 1234 : 0);
    assert_int_equal(mid.totals.live_bytes - before.totals.live_bytes, tracking ? 1234 : 0);
    free(p);
    expect_counted(&before, 1, 1, 0);
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0)) {
        fprintf(stderr, "usage: %s on|off\n", argv[0]);
        return 2;
    }
    tracking = strcmp(argv[1], "on") == 0;
    if (tracking && rallo_enable() != 0) {
        fprintf(stderr, "rallo_enable failed\n");
        return 1;
    }
#define T(f) cmocka_unit_test_setup_teardown(f, capture_stderr, expect_silent_stderr)
    const struct CMUnitTest tests[] = {
        T(test_tracking_state),
        T(test_symbols_resolve_to_rallo),
        T(test_every_allocation_entry_point),
        T(test_sizes_multiple_of_alignment),
        T(test_every_operator_new_and_delete),
        T(test_operator_new_failure),
        T(test_free_null_everywhere),
        T(test_calloc_zeroes_reused_memory),
        T(test_calloc_overflow),
        T(test_impossible_sizes),
        T(test_posix_memalign_errors),
        T(test_aligned_alloc_errors),
        T(test_realloc_keeps_contents),
        T(test_realloc_zero_frees),
        T(test_realloc_failure_keeps_block),
        T(test_malloc_good_size),
        T(test_huge_blocks),
        T(test_small_blocks_hold_16),
        T(test_realloc_after_disable_keeps_alignment),
    };
    return cmocka_run_group_tests_name(tracking ? "conformance (tracking on)" : "conformance (tracking off)",
                                       tests, NULL, NULL);
}
