/* test_tsan_tracking.c - tracking/'s shared data structures under
 * ThreadSanitizer, driven directly (rallo is not this program's malloc):
 * writers intern stacks in the depot (many threads racing to insert the same
 * stacks), sample and count "blocks" on per-thread shards and hand them to
 * other threads to be counted freed (through a release/acquire exchange, as a
 * real cross-thread free would be); threads come and go, so shards are
 * recycled through exit; meanwhile readers take snapshots, site sums, totals,
 * the peak copy, and a controller changes the sampling interval. TSan fails
 * the run on any data race or lock-order problem (halt_on_error); the test
 * itself checks that every stack comes back from the depot as interned, and
 * that with everything freed the counters say exactly 0 live, with the exact
 * number of allocations counted in the unsampled phase. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "read_side.h"
#include "tracking.h"
#include "sampler.h"
#include "../common/random.h"

enum { WRITERS = 6, ROUNDS = 4, STEPS = 3000, STACKS = 400, SLOTS = 1024 };

/* A fake block: what a header would hold. */
typedef struct fake_block {
    uint32_t site_id;
    uint64_t size;
    rallo_epoch epoch;
} fake_block;

static _Atomic(fake_block *) slots[SLOTS];
static _Atomic int stop_readers;
static _Atomic int sampling_phase;
static _Atomic uint64_t counted_allocs; /* allocations counted with epoch 0 */

static void make_stack(unsigned which, uintptr_t *pcs, uint32_t *depth) {
    *depth = 2 + which % 9;
    for (uint32_t i = 0; i < *depth; i++)
        pcs[i] = 0x400000u + which * 0x1000u + i * 16u;
}

static void count_freed(fake_block *block) {
    _rallo_count_free(block->site_id, block->size, block->epoch);
    free(block);
}

static void *writer(void *arg) {
    uint64_t rng = 0x9E3779B97F4A7C15ull + (uintptr_t)arg * 7919;
    uintptr_t pcs[16];
    for (int step = 0; step < STEPS; step++) {
        unsigned which = (unsigned)(next_random(&rng) % STACKS);
        uint32_t depth;
        make_stack(which, pcs, &depth);
        uint32_t site = _rallo_depot_intern(pcs, depth);
        assert_true(site >= RALLO_SITE_FIRST);
        uint32_t got_depth = 0;
        const uintptr_t *frames = _rallo_site_frames(site, &got_depth);
        assert_non_null(frames);
        assert_int_equal(got_depth, depth);
        assert_memory_equal(frames, pcs, depth * sizeof pcs[0]);

        uint64_t size = 16 + next_random(&rng) % 5000;
        int taken = _rallo_sampler_take(size);
        if (taken == RALLO_SAMPLE_NOT_TAKEN)
            continue;
        rallo_epoch epoch = (rallo_epoch)taken;
        fake_block *block = malloc(sizeof *block);
        *block = (fake_block){site, size, epoch};
        _rallo_count_alloc(site, size, epoch);
        if (epoch == 0)
            atomic_fetch_add(&counted_allocs, 1);
        /* Hand it to whoever takes the slot next; free what was there. */
        fake_block *old =
            atomic_exchange_explicit(&slots[next_random(&rng) % SLOTS], block, memory_order_acq_rel);
        if (old != NULL)
            count_freed(old);
    }
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    rallo_site_sums *sums = malloc(sizeof *sums * (STACKS + 16));
    uint64_t *peak = malloc(sizeof *peak * (STACKS + 16));
    while (!atomic_load(&stop_readers)) {
        uint32_t n = _rallo_site_count();
        if (n > STACKS + 16)
            n = STACKS + 16;
        _rallo_sites_snapshot(sums, n);
        rallo_site_sums one;
        _rallo_site_sums(RALLO_SITE_FIRST, &one);
        rallo_totals totals;
        _rallo_totals(&totals);
        uint64_t at_peak;
        _rallo_peak_sites(peak, n, &at_peak);
        rallo_depot_stats stats;
        _rallo_depot_stats(&stats);
        assert_true(stats.sites <= STACKS);
    }
    free(sums);
    free(peak);
    return NULL;
}

static void *controller(void *arg) {
    (void)arg;
    static const uint64_t intervals[] = {4096, 65536, 1, 1024};
    unsigned i = 0;
    while (!atomic_load(&stop_readers)) {
        if (atomic_load(&sampling_phase))
            assert_int_equal(rallo_set_sample_interval(intervals[i++ % 4]), 0);
        (void)rallo_get_sample_interval();
        sched_yield();
    }
    return NULL;
}

static void run_rounds(void) {
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t threads[WRITERS];
        for (uintptr_t i = 0; i < WRITERS; i++)
            assert_int_equal(
                pthread_create(&threads[i], NULL, writer, (void *)(i + 1 + (uintptr_t)round * 100)), 0);
        for (int i = 0; i < WRITERS; i++)
            pthread_join(threads[i], NULL); /* exit recycles each writer's shard */
    }
}

static void drain(void) {
    for (int i = 0; i < SLOTS; i++) {
        fake_block *old = atomic_exchange(&slots[i], NULL);
        if (old != NULL)
            count_freed(old);
    }
}

static void tracking_structures_under_threads(void **state) {
    (void)state;
    _rallo_options.max_sites = 4096;
    _rallo_options.depot_bytes = 4u << 20;
    assert_true(_rallo_depot_init());
    _rallo_tracking_set(true); /* the sampler tracks nothing while tracking is off */

    pthread_t readers[2], control;
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&readers[i], NULL, reader, NULL), 0);
    assert_int_equal(pthread_create(&control, NULL, controller, NULL), 0);

    /* Phase 1: every allocation counted: an exact count is known. */
    run_rounds();
    drain();
    rallo_totals totals;
    _rallo_totals(&totals);
    assert_int_equal(totals.alloc_count, atomic_load(&counted_allocs));
    assert_int_equal(totals.alloc_count, (uint64_t)ROUNDS * WRITERS * STEPS);
    assert_int_equal(totals.live_count, 0);
    assert_int_equal(totals.live_bytes, 0);

    /* Phase 2: the interval changes under the writers' feet. */
    atomic_store(&sampling_phase, 1);
    run_rounds();
    atomic_store(&sampling_phase, 0);
    drain();
    atomic_store(&stop_readers, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(readers[i], NULL);
    pthread_join(control, NULL);

    _rallo_totals(&totals);
    assert_int_equal(totals.live_count, 0);
    assert_int_equal(totals.live_bytes, 0);
    rallo_depot_stats stats;
    _rallo_depot_stats(&stats);
    assert_int_equal(stats.sites, STACKS);
    assert_int_equal(stats.overflowed, 0);
    printf("tsan: %d writer threads x %d rounds x 2 phases, %u sites, %d allocations counted exactly in "
           "phase 1\n",
           WRITERS, ROUNDS, stats.sites, ROUNDS * WRITERS * STEPS);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(tracking_structures_under_threads)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
