/* bad-input.c - undefined behaviour a program may commit with tracked blocks,
 * which rallo promises to survive without damage to its own state: a double
 * free (the header's FREED mark catches it), a free of a pointer inside a
 * tracked block that is not its start, realloc of a freed block. Each case
 * runs in a sandbox child with tracking on; the child then checks the counters
 * still balance and the heap still hands out disjoint blocks. (A stack
 * address or a block mimalloc never made is mimalloc's to judge: not tested.) */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "entry-points.h"
#include "sandbox.h"

static uint64_t bad_headers(void) {
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    return untracked.bad_header;
}

static void expect_balanced(const char *when) {
    rallo_totals totals;
    rallo_get_totals(&totals);
    CHECK(totals.live_count == 0 && totals.live_bytes == 0, "%s: %llu live blocks, %llu bytes", when,
          (unsigned long long)totals.live_count, (unsigned long long)totals.live_bytes);
}

/* The heap still works: blocks of `size` (some aligned) come back disjoint. */
static void expect_heap_sound(size_t size, size_t alignment) {
    enum { N = 64 };
    unsigned char *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = alignment > 16 ? memalign(alignment, size) : malloc(size);
        CHECK(blocks[i] != NULL, "allocation");
        memset(blocks[i], i, size);
    }
    for (int i = 0; i < N; i++)
        for (size_t b = 0; b < size; b += 8)
            CHECK(blocks[i][b] == (unsigned char)i, "block %d overlaps another", i);
    for (int i = 0; i < N; i++)
        free(blocks[i]);
}

typedef struct bad_case {
    size_t size;
    size_t alignment;
    bool disable_first; /* the bad call comes after rallo_disable() */
} bad_case;

static void *allocate(const bad_case *c) {
    return c->alignment > 16 ? memalign(c->alignment, c->size) : malloc(c->size);
}

static void double_free_scenario(void *arg) {
    const bad_case *c = arg;
    CHECK(rallo_enable() == 0, "enable");
    void *p = allocate(c);
    free(p);
    if (c->disable_first)
        rallo_disable();
    uint64_t before = bad_headers();
    free(p); /* the double free */
    CHECK(bad_headers() == before + 1, "double free not seen (bad_header %llu -> %llu)",
          (unsigned long long)before, (unsigned long long)bad_headers());
    expect_balanced("after a double free");
    expect_heap_sound(c->size, c->alignment);
    expect_balanced("after reuse");
}

static void interior_free_scenario(void *arg) {
    const bad_case *c = arg;
    CHECK(rallo_enable() == 0, "enable");
    unsigned char *p = allocate(c);
    memset(p, 0, c->size); /* no stale FREED-looking bits inside */
    if (c->disable_first)
        rallo_disable();
    uint64_t before = bad_headers();
    /* p + 16 is 16-aligned, inside the arena, and not a block start: counted
     * and kept from mimalloc (faults.misuse checks the heap afterwards). */
    free(p + 16);
    CHECK(bad_headers() == before + 1, "interior free not counted");
    free(p); /* the real block is still tracked and freed exactly */
    expect_balanced("after an interior free");
}

static void realloc_freed_scenario(void *arg) {
    const bad_case *c = arg;
    CHECK(rallo_enable() == 0, "enable");
    void *p = allocate(c);
    free(p);
    if (c->disable_first)
        rallo_disable();
    uint64_t before = bad_headers();
    void *q = realloc(p, c->size * 2);
    CHECK(q != NULL, "realloc of a freed block returned NULL");
    CHECK(bad_headers() == before + 1, "realloc of a freed block not seen");
    free(q);
    expect_balanced("after realloc of a freed block");
    expect_heap_sound(c->size, c->alignment);
}

static const bad_case cases[] = {
    {64, 16, false},    {64, 16, true},    {5000, 16, false},
    {100, 4096, false}, {100, 4096, true}, {100000, 64, false},
};
#define CASES (sizeof cases / sizeof cases[0])

static void run_cases(void (*scenario)(void *), const char *name) {
    int failed = 0;
    for (size_t i = 0; i < CASES; i++) {
        int code = sandbox_exit_code(sandbox_run(scenario, (void *)&cases[i]));
        if (code != 0) {
            print_error("%s: size %zu alignment %zu%s: child exit %d\n", name, cases[i].size,
                        cases[i].alignment, cases[i].disable_first ? " (after rallo_disable)" : "", code);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

static void test_double_free_of_tracked_block(void **state) {
    (void)state;
    run_cases(double_free_scenario, "double free");
}

static void test_interior_free_of_tracked_block(void **state) {
    (void)state;
    run_cases(interior_free_scenario, "interior free");
}

static void test_realloc_of_freed_tracked_block(void **state) {
    (void)state;
    run_cases(realloc_freed_scenario, "realloc of a freed block");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_double_free_of_tracked_block),
        cmocka_unit_test(test_interior_free_of_tracked_block),
        cmocka_unit_test(test_realloc_of_freed_tracked_block),
    };
    return cmocka_run_group_tests_name("bad input", tests, NULL, NULL);
}
