/* test_ground_truth.c - per-site counts and bytes against a program whose
 * allocations are known exactly: site_a allocates N blocks of M bytes, site_b
 * grows a vector by realloc K times, site_c allocates in one thread and
 * site_d frees those in another. Also realloc across tracking modes, aligned
 * blocks up to 1 MiB, malloc_usable_size, and a caller that clobbers rbp.
 * Functions are noinline and global; frames are matched with dladdr (see
 * sites.h). Sites are found by their leaf frame, so every test uses functions
 * of its own and the tests do not disturb each other's counters. */
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sites.h"

#define NOINLINE __attribute__((noinline, used))

static sites_snapshot snap;

static const rallo_site *one_site(const char *leaf) {
    int how_many = 0;
    const rallo_site *site = site_by_leaf(&snap, leaf, &how_many);
    if (how_many != 1)
        fprintf(stderr, "sites with leaf %s: %d\n", leaf, how_many);
    if (how_many != 1)
        sites_print(&snap);
    assert_int_equal(how_many, 1);
    return site;
}

/* ---- ground truth ---- */
enum { A_BLOCKS = 1000, A_SIZE = 48, B_STEPS = 300, B_STEP = 24, C_BLOCKS = 5000, C_SIZE = 200 };
static void *a_blocks[A_BLOCKS];
static void *c_blocks[C_BLOCKS];

NOINLINE void site_a(void) {
    for (int i = 0; i < A_BLOCKS; i++) {
        a_blocks[i] = malloc(A_SIZE);
        __asm__ volatile("" ::: "memory");
    }
}

NOINLINE void *site_b(void) {
    char *vector = NULL;
    for (int step = 1; step <= B_STEPS; step++) {
        vector = realloc(vector, (size_t)step * B_STEP);
        vector[(size_t)step * B_STEP - 1] = (char)step;
    }
    return vector;
}

NOINLINE void site_c(void) {
    for (int i = 0; i < C_BLOCKS; i++)
        c_blocks[i] = calloc(C_SIZE / 8, 8);
}
NOINLINE void *thread_c(void *arg) {
    (void)arg;
    site_c();
    return NULL;
}
NOINLINE void site_d(void) {
    for (int i = 0; i < C_BLOCKS; i++)
        free(c_blocks[i]);
}
NOINLINE void *thread_d(void *arg) {
    (void)arg;
    site_d();
    return NULL;
}

void test_ground_truth(void **state);
void test_ground_truth(void **state) {
    (void)state;
    assert_int_equal(rallo_enable(), 0);
    site_a();
    void *vector = site_b();
    pthread_t c, d;
    assert_int_equal(pthread_create(&c, NULL, thread_c, NULL), 0);
    pthread_join(c, NULL);
    assert_int_equal(pthread_create(&d, NULL, thread_d, NULL), 0);
    pthread_join(d, NULL);
    rallo_disable();

    sites_take(&snap, rallo_for_each_site);
    const rallo_site *a = one_site("site_a");
    assert_int_equal(a->alloc_count, A_BLOCKS);
    assert_int_equal(a->alloc_bytes, (uint64_t)A_BLOCKS * A_SIZE);
    assert_int_equal(a->free_count, 0);
    assert_int_equal(a->live_count, A_BLOCKS);
    assert_int_equal(a->live_bytes, (uint64_t)A_BLOCKS * A_SIZE);
    assert_true(stack_has(a, "test_ground_truth"));

    /* realloc: each call = one alloc of the new size at the realloc's site and
     * one free of the old block (the first call's old block is NULL). */
    const rallo_site *b = one_site("site_b");
    uint64_t b_bytes = (uint64_t)B_STEP * B_STEPS * (B_STEPS + 1) / 2;
    assert_int_equal(b->alloc_count, B_STEPS);
    assert_int_equal(b->alloc_bytes, b_bytes);
    assert_int_equal(b->free_count, B_STEPS - 1);
    assert_int_equal(b->free_bytes, b_bytes - (uint64_t)B_STEP * B_STEPS);
    assert_int_equal(b->live_count, 1);
    assert_int_equal(b->live_bytes, (uint64_t)B_STEP * B_STEPS);
    assert_true(stack_has(b, "test_ground_truth"));

    /* calloc(n, m) counts n*m; freed by another thread, all of them. */
    const rallo_site *c_site = one_site("site_c");
    assert_int_equal(c_site->alloc_count, C_BLOCKS);
    assert_int_equal(c_site->alloc_bytes, (uint64_t)C_BLOCKS * C_SIZE);
    assert_int_equal(c_site->free_count, C_BLOCKS);
    assert_int_equal(c_site->free_bytes, (uint64_t)C_BLOCKS * C_SIZE);
    assert_int_equal(c_site->live_count, 0);
    assert_int_equal(c_site->live_bytes, 0);
    assert_true(frame_in(c_site, 1, "thread_c"));
    int how_many;
    assert_null(site_by_leaf(&snap, "site_d", &how_many)); /* frees make no site */

    /* Frees after disable still subtract from blocks tracked while enabled. */
    for (int i = 0; i < A_BLOCKS; i++)
        free(a_blocks[i]);
    free(vector);
    sites_take(&snap, rallo_for_each_site);
    a = one_site("site_a");
    b = one_site("site_b");
    assert_int_equal(a->free_count, A_BLOCKS);
    assert_int_equal(a->live_bytes, 0);
    assert_int_equal(b->free_count, B_STEPS);
    assert_int_equal(b->free_bytes, b_bytes);
    assert_int_equal(b->live_count, 0);
}

/* ---- realloc across modes ---- */
NOINLINE void *untracked_alloc(size_t size) {
    return malloc(size);
}
NOINLINE void *realloc_while_on(void *p, size_t size) {
    return realloc(p, size);
}
NOINLINE void *tracked_alloc(size_t size) {
    return malloc(size);
}
NOINLINE void *realloc_while_off(void *p, size_t size) {
    return realloc(p, size);
}

static void fill(char *p, size_t n, int seed) {
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(seed + i * 7);
}
static void check_fill(const char *p, size_t n, int seed) {
    for (size_t i = 0; i < n; i++)
        assert_int_equal((unsigned char)p[i], (unsigned char)(char)(seed + i * 7));
}

void test_realloc_across_modes(void **state);
void test_realloc_across_modes(void **state) {
    (void)state;
    rallo_disable();
    char *plain = untracked_alloc(100);
    fill(plain, 100, 1);
    assert_int_equal(rallo_enable(), 0);
    char *now_tracked = realloc_while_on(plain, 5000);
    check_fill(now_tracked, 100, 1);
    char *tracked = tracked_alloc(300);
    fill(tracked, 300, 2);
    rallo_disable();
    char *now_plain = realloc_while_off(tracked, 50);
    check_fill(now_plain, 50, 2);

    sites_take(&snap, rallo_for_each_site);
    int how_many;
    assert_null(site_by_leaf(&snap, "untracked_alloc", &how_many));
    const rallo_site *on = one_site("realloc_while_on");
    assert_int_equal(on->alloc_count, 1); /* the untracked old block is not a free */
    assert_int_equal(on->alloc_bytes, 5000);
    assert_int_equal(on->free_count, 0);
    const rallo_site *t = one_site("tracked_alloc");
    assert_int_equal(t->alloc_count, 1);
    assert_int_equal(t->free_count, 1); /* freed by the realloc while off */
    assert_int_equal(t->free_bytes, 300);
    assert_int_equal(t->live_bytes, 0);
    assert_null(site_by_leaf(&snap, "realloc_while_off", &how_many));

    free(now_plain); /* untracked: no counter moves */
    free(now_tracked);
    sites_take(&snap, rallo_for_each_site);
    on = one_site("realloc_while_on");
    assert_int_equal(on->free_count, 1);
    assert_int_equal(on->live_bytes, 0);
    t = one_site("tracked_alloc");
    assert_int_equal(t->free_count, 1);
}

/* ---- aligned blocks and malloc_usable_size ---- */
/* The tracked arena is reserved as one mapping of at least 64 GiB (1 TiB by
 * default); mimalloc commits parts of it, which splits it into several
 * adjacent entries of /proc/self/maps: join adjacent entries, then look for
 * the one that holds p. */
static int in_big_mapping(const void *p) {
    static char maps[1 << 18];
    FILE *file = fopen("/proc/self/maps", "r");
    assert_non_null(file);
    size_t n = fread(maps, 1, sizeof maps - 1, file);
    fclose(file);
    maps[n] = '\0';
    unsigned long run_lo = 0, run_hi = 0;
    for (char *line = maps; line != NULL && *line != '\0';) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
            if (lo != run_hi)
                run_lo = lo;
            run_hi = hi;
            if (run_hi - run_lo >= (64ul << 30) && (uintptr_t)p >= run_lo && (uintptr_t)p < run_hi)
                return 1;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return 0;
}

enum { ALIGN_KINDS = 21 }; /* 1 B .. 1 MiB */
NOINLINE void *aligned_site(size_t alignment, size_t size) {
    return aligned_alloc(alignment, size);
}
NOINLINE void *memalign_site(size_t alignment, size_t size) {
    void *p = NULL;
    return posix_memalign(&p, alignment, size) == 0 ? p : NULL;
}

void test_aligned_and_usable_size(void **state);
void test_aligned_and_usable_size(void **state) {
    (void)state;
    void *blocks[2][ALIGN_KINDS];
    uint64_t bytes = 0, memalign_bytes = 0;
    int memalign_count = 0;
    assert_int_equal(rallo_enable(), 0);
    for (int shift = 0; shift < ALIGN_KINDS; shift++) {
        size_t alignment = (size_t)1 << shift, size = 100 + 37 * (size_t)shift;
        blocks[0][shift] = aligned_site(alignment, size);
        bytes += size;
        blocks[1][shift] = NULL;
        if (alignment >= sizeof(void *)) {
            blocks[1][shift] = memalign_site(alignment, size + 1);
            memalign_bytes += size + 1;
            memalign_count++;
        }
    }
    char *small = tracked_alloc(1);
    char *odd = tracked_alloc(1000);
    rallo_disable();

    for (int shift = 0; shift < ALIGN_KINDS; shift++)
        for (int kind = 0; kind < 2; kind++) {
            char *p = blocks[kind][shift];
            if (p == NULL)
                continue;
            size_t size = 100 + 37 * (size_t)shift + (size_t)kind;
            assert_int_equal((uintptr_t)p % ((size_t)1 << shift), 0);
            assert_true(in_big_mapping(p));
            size_t usable = malloc_usable_size(p);
            assert_true(usable >= size);
            memset(p, 0xab, usable); /* writable to the end: a later free would notice corruption */
        }
    for (char *p = small; p != NULL; p = p == small ? odd : NULL) {
        assert_true(in_big_mapping(p));
        size_t usable = malloc_usable_size(p);
        assert_true(usable >= (p == small ? 1u : 1000u));
        memset(p, 0xcd, usable);
    }

    sites_take(&snap, rallo_for_each_site);
    const rallo_site *aligned = one_site("aligned_site");
    assert_int_equal(aligned->alloc_count, ALIGN_KINDS);
    assert_int_equal(aligned->alloc_bytes, bytes);
    const rallo_site *mem = one_site("memalign_site");
    assert_int_equal(mem->alloc_count, memalign_count);
    assert_int_equal(mem->alloc_bytes, memalign_bytes);
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    assert_int_equal(untracked.alignment, 0);

    for (int shift = 0; shift < ALIGN_KINDS; shift++)
        for (int kind = 0; kind < 2; kind++)
            free(blocks[kind][shift]);
    free(small);
    free(odd);
    sites_take(&snap, rallo_for_each_site);
    aligned = one_site("aligned_site");
    mem = one_site("memalign_site");
    assert_int_equal(aligned->live_count, 0);
    assert_int_equal(aligned->free_bytes, bytes);
    assert_int_equal(mem->live_count, 0);
    assert_int_equal(mem->free_bytes, memalign_bytes);
    rallo_get_untracked(&untracked);
    assert_int_equal(untracked.bad_header, 0);
}

/* ---- a caller without frame pointers that puts garbage in rbp ---- */
void *clobbered_rbp_malloc(size_t size, uintptr_t garbage); /* omit_fp.c, -fomit-frame-pointer */

void test_clobbered_frame_pointer(void **state);
void test_clobbered_frame_pointer(void **state) {
    (void)state;
#if defined(__x86_64__)
    static const uintptr_t garbage[] = {0, 8, 0xfffffffffffffff0ull, 0xdeadbeefdeadbeefull,
                                        0x7fff00000000ull};
    assert_int_equal(rallo_enable(), 0);
    void *blocks[5];
    for (int i = 0; i < 5; i++) {
        blocks[i] = clobbered_rbp_malloc(64 + (size_t)i, garbage[i]);
        assert_non_null(blocks[i]);
    }
    rallo_disable();
    sites_take(&snap, rallo_for_each_site);
    const rallo_site *site = one_site("clobbered_rbp_malloc");
    assert_int_equal(site->alloc_count, 5);
    /* The walk stops at the garbage: the caller's own frames are not there. */
    assert_true(site->depth <= 2);
    assert_false(stack_has(site, "test_clobbered_frame_pointer"));
    for (int i = 0; i < 5; i++)
        free(blocks[i]);
#else
    skip();
#endif
}

int main(int argc, char **argv) {
    /* "no-proc": run where /proc is hidden (ctest's tracking.ground_truth_no_proc
     * mounts an empty tmpfs over it in a mount namespace of its own). glibc then
     * cannot find the main thread's stack; rallo must find it another way, and
     * a clobbered rbp must still not be followed out of the stack. The aligned
     * test reads /proc/self/maps itself and is not among these. */
    if (argc > 1 && strcmp(argv[1], "no-proc") == 0) {
        if (access("/proc/self/maps", R_OK) == 0) {
            fprintf(stderr, "no-proc: /proc/self/maps is readable, so this run would prove nothing\n");
            return 1;
        }
        const struct CMUnitTest without_proc[] = {
            cmocka_unit_test(test_ground_truth),
            cmocka_unit_test(test_realloc_across_modes),
            cmocka_unit_test(test_clobbered_frame_pointer),
        };
        return cmocka_run_group_tests_name("without /proc", without_proc, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ground_truth),
        cmocka_unit_test(test_realloc_across_modes),
        cmocka_unit_test(test_aligned_and_usable_size),
        cmocka_unit_test(test_clobbered_frame_pointer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
