/* test_quick_hash.c - the quick frame walk's hash (tracking/unwind_fp.h), the
 * key of each thread's memo of call sites, on stacks of frame records the test
 * lays out in memory itself. A collision between two stacks a program really
 * has would file one stack's allocations under the other's site, so: every
 * stack differs from the same stack with one frame d bytes higher and another
 * d lower (two call sites the same distance apart in two functions: the
 * collision a hash that gives two depths one weight would have), for every
 * pair of depths; from the same stack with two neighbours swapped; from its
 * own prefixes; and frames past the depth limit do not count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../tracking/unwind/unwind_fp.h"
#include "../common/random.h"

typedef struct frame_record {
    uintptr_t next, pc;
} frame_record;

static frame_record records[RALLO_MAX_DEPTH + 1];

/* The quick hash of the stack pcs[0..depth), walked with limit max. */
static uint64_t quick_hash(const uintptr_t *pcs, uint32_t depth, uint32_t max) {
    for (uint32_t i = 0; i < depth; i++) {
        records[i].pc = pcs[i];
        records[i].next = i + 1 < depth ? (uintptr_t)&records[i + 1] : 0; /* 0: below, the walk ends */
    }
    return _rallo_fp_walk_quick((uintptr_t)&records[0], (uintptr_t)&records[depth - 1], max);
}

/* Return addresses as a program's: inside a few MiB of text. */
static void random_stack(uintptr_t *pcs, uint32_t depth, uint64_t *state) {
    for (uint32_t i = 0; i < depth; i++)
        pcs[i] = 0x555555554000u + (uintptr_t)(next_random(state) % (4u << 20));
}

static const uint32_t depths[] = {2, 3, 4, 5, 8, 13, 31, 64, 127, 128};
static const uint32_t limits[] = {5, 13, 64, 127, 128};

static void test_opposite_shifts_at_two_depths(void **state) {
    (void)state;
    uint64_t seed = 0x9d2c5680u;
    uintptr_t pcs[RALLO_MAX_DEPTH], moved[RALLO_MAX_DEPTH];
    static const uintptr_t shifts[] = {1, 16, 4096};
    for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
        for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
            uint32_t depth = depths[d], max = limits[l];
            uint32_t walked = depth < max ? depth : max;
            random_stack(pcs, depth, &seed);
            uint64_t original = quick_hash(pcs, depth, max);
            for (uint32_t i = 0; i < walked; i++) {
                for (uint32_t j = i + 1; j < walked; j++) {
                    for (size_t s = 0; s < sizeof shifts / sizeof shifts[0]; s++) {
                        for (uint32_t k = 0; k < depth; k++)
                            moved[k] = pcs[k];
                        moved[i] += shifts[s];
                        moved[j] -= shifts[s];
                        if (quick_hash(moved, depth, max) == original)
                            fail_msg("depth %u, limit %u: frames %u and %u moved by +-%zu collide", depth,
                                     max, i, j, (size_t)shifts[s]);
                    }
                }
            }
        }
    }
}

static void test_swapped_neighbours_and_prefixes(void **state) {
    (void)state;
    uint64_t seed = 0x1234567u;
    uintptr_t pcs[RALLO_MAX_DEPTH], swapped[RALLO_MAX_DEPTH];
    for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
        uint32_t depth = depths[d];
        random_stack(pcs, depth, &seed);
        uint64_t original = quick_hash(pcs, depth, RALLO_MAX_DEPTH);
        assert_true(quick_hash(pcs, depth, RALLO_MAX_DEPTH) == original); /* the same stack, the same key */
        for (uint32_t i = 0; i + 1 < depth; i++) {
            for (uint32_t k = 0; k < depth; k++)
                swapped[k] = pcs[k];
            swapped[i] = pcs[i + 1];
            swapped[i + 1] = pcs[i];
            if (quick_hash(swapped, depth, RALLO_MAX_DEPTH) == original)
                fail_msg("depth %u: frames %u and %u swapped collide", depth, i, i + 1);
        }
        for (uint32_t prefix = 1; prefix < depth; prefix++)
            if (quick_hash(pcs, prefix, RALLO_MAX_DEPTH) == original)
                fail_msg("depth %u collides with its first %u frames", depth, prefix);
    }
}

static void test_frames_past_the_limit_do_not_count(void **state) {
    (void)state;
    uint64_t seed = 0xabcdefu;
    uintptr_t pcs[RALLO_MAX_DEPTH];
    random_stack(pcs, RALLO_MAX_DEPTH, &seed);
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        uint32_t max = limits[l];
        if (max >= RALLO_MAX_DEPTH)
            continue;
        uint64_t limited = quick_hash(pcs, RALLO_MAX_DEPTH, max);
        assert_true(limited == quick_hash(pcs, max, max));
        pcs[max] += 64; /* the first frame past the limit */
        assert_true(limited == quick_hash(pcs, RALLO_MAX_DEPTH, max));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opposite_shifts_at_two_depths),
        cmocka_unit_test(test_swapped_neighbours_and_prefixes),
        cmocka_unit_test(test_frames_past_the_limit_do_not_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
