/* test_unwind_fp_cut.c - RALLO_UNWIND=fp on code built without frame
 * pointers invents no frames: seven functions allocate (the only call sites of
 * the loop), each called with rbp pointing at a chain of fake frame records
 * whose return addresses change every iteration (values outside any module,
 * and the starts of functions, which no call precedes). A frame-pointer walk
 * that trusted them made a new site of each; the walk must stop at the first,
 * keep the seven sites (give or take the few a stray word could add), and
 * count the stacks it cut short. Built with -fomit-frame-pointer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../tracking/door.h"
#include "rallo.h"

/* The unwinder's counter, as the report libraries read it: through the door. */
static uint64_t stacks_cut_short(void) {
    return _rallo_door_get()->stacks_cut_short();
}

#define SITES 7
#define RECORDS 6
#define ITERATIONS 20000

/* An allocation made with rbp holding `chain`: the walk's next record (a
 * function definition: no parentheses around it). */
// NOLINTBEGIN(bugprone-macro-parentheses)
#define SITE(i)                                                                                              \
    __attribute__((noinline)) static void *site_##i(uintptr_t *chain, size_t n) {                            \
        register uintptr_t frame __asm__("rbp") = (uintptr_t)chain;                                          \
        __asm__ volatile("" : "+r"(frame));                                                                  \
        void *p = malloc(n);                                                                                 \
        __asm__ volatile("" : : "r"(frame));                                                                 \
        return p;                                                                                            \
    }
SITE(0)
SITE(1)
SITE(2)
SITE(3)
SITE(4)
SITE(5)
SITE(6)
// NOLINTEND(bugprone-macro-parentheses)
static void *(*const sites[SITES])(uintptr_t *, size_t) = {site_0, site_1, site_2, site_3,
                                                           site_4, site_5, site_6};

static uint64_t xorshift(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static int count_site(const rallo_site *site, void *arg) {
    (void)site;
    (*(uint32_t *)arg)++;
    return 0;
}

static void fp_invents_no_frames(void **state) {
    (void)state;
    /* The fake records live in this frame, above the callees' (a walk reads
     * only inside the stack), each pointing at the next. */
    volatile uintptr_t chain[2 * RECORDS + 2];
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    uint64_t cut_before = stacks_cut_short();
    assert_int_equal(rallo_enable(), 0);
    for (int i = 0; i < ITERATIONS; i++) {
        for (int r = 0; r < RECORDS; r++) {
            uint64_t noise = xorshift(&rng);
            chain[2 * r] = r + 1 < RECORDS ? (uintptr_t)&chain[2 * r + 2] : 0;
            /* Outside every module (like a heap or mapping address), or the
             * start of a function: code, but no call precedes it. */
            chain[2 * r + 1] = noise & 1 ? (uintptr_t)0x7e0000000000ull + (noise >> 24)
                                         : (uintptr_t)sites[(noise >> 8) % SITES];
        }
        free(sites[i % SITES]((uintptr_t *)chain, 16 + (size_t)(i % 64)));
    }
    rallo_disable();
    uint32_t count = 0;
    rallo_for_each_site(count_site, &count);
    print_message("  %u sites for %d call sites, %llu stacks cut short\n", count, SITES,
                  (unsigned long long)(stacks_cut_short() - cut_before));
    assert_true(count >= SITES);
    assert_true(count <= 2 * SITES);
    assert_true(stacks_cut_short() > cut_before);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(fp_invents_no_frames)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
