/* test_countdown.c - when each thread learns a change of setting, now that the
 * sampler's per-thread byte countdown is all the allocation path reads
 * (tracking/sampler.h): the thread that turns tracking on or off, or sets the
 * interval, sees it from its next allocation; a thread started later, from its
 * first (malloc(0) too); a thread that allocated before another turned tracking
 * on, from its next allocation; turning tracking off stops every thread's
 * tracking at once; a forked child tracks every allocation it makes.
 * Every figure is a difference of rallo_get_totals around allocations the test
 * makes itself while the other threads wait. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "rallo.h"

#define BLOCK 1024u

/* Every block passes through here: the compiler may not elide a malloc whose
 * block is only freed. */
static void *volatile sink;

static void *kept(void *p) {
    sink = p;
    return sink;
}

static void allocate_and_free(size_t size) {
    sink = malloc(size);
    free(sink);
}

static uint64_t allocs_counted(void) {
    rallo_totals totals;
    rallo_get_totals(&totals);
    return totals.alloc_count;
}

static uint64_t frees_counted(void) {
    rallo_totals totals;
    rallo_get_totals(&totals);
    return totals.free_count;
}

/* n blocks of BLOCK bytes, kept until free_blocks. */
static void **make_blocks(unsigned n) {
    void **blocks = malloc(n * sizeof *blocks);
    for (unsigned i = 0; i < n; i++)
        blocks[i] = kept(malloc(BLOCK));
    return blocks;
}

static void free_blocks(void **blocks, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        free(blocks[i]);
    free(blocks);
}

/* ---- the thread that changes the setting ---- */

static void test_own_thread_sees_its_change(void **state) {
    (void)state;
    assert_int_equal(rallo_set_sample_interval(0), 0);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(rallo_enable(), 0);
        uint64_t before = allocs_counted();
        void *p = kept(malloc(0));
        assert_int_equal(allocs_counted() - before, 1);
        rallo_disable();
        before = allocs_counted();
        void *q = kept(malloc(100));
        assert_int_equal(allocs_counted() - before, 0);
        free(p);
        free(q);
    }
    /* From sampling at 1 GiB (nothing sampled) to every allocation, on. */
    assert_int_equal(rallo_set_sample_interval(1ull << 30), 0);
    assert_int_equal(rallo_enable(), 0);
    void *p = kept(malloc(100));
    assert_int_equal(rallo_set_sample_interval(0), 0);
    uint64_t before = allocs_counted();
    void *q = kept(malloc(100));
    assert_int_equal(allocs_counted() - before, 1);
    free(p);
    free(q);
    rallo_disable();
}

/* ---- a thread started after tracking was turned on ---- */

static void *first_allocation_zero(void *arg) {
    (void)arg;
    return kept(malloc(0));
}

static void test_new_thread_tracks_its_first_allocation(void **state) {
    (void)state;
    assert_int_equal(rallo_set_sample_interval(0), 0);
    assert_int_equal(rallo_enable(), 0);
    pthread_t thread;
    void *block;
    /* pthread_create allocates the thread's own structures: counted before. */
    uint64_t before = allocs_counted();
    assert_int_equal(pthread_create(&thread, NULL, first_allocation_zero, NULL), 0);
    assert_int_equal(pthread_join(thread, &block), 0);
    uint64_t made = allocs_counted() - before;
    assert_true(made >= 1);
    before = frees_counted();
    free(block);
    assert_int_equal(frees_counted() - before, 1); /* malloc(0) was tracked */
    rallo_disable();
}

/* ---- a thread that allocated before another turned tracking on ---- */

static pthread_barrier_t step;
static uint64_t first_phase_counted, second_phase_counted;

#define FIRST_PHASE_BLOCKS 600
#define SECOND_PHASE_BLOCKS 100

static void *early_thread(void *arg) {
    (void)arg;
    allocate_and_free(BLOCK); /* its countdown is now tracking off's */
    pthread_barrier_wait(&step);
    pthread_barrier_wait(&step); /* tracking turned on by the main thread */
    uint64_t before = allocs_counted();
    void **first = make_blocks(FIRST_PHASE_BLOCKS);
    first_phase_counted = allocs_counted() - before;
    before = allocs_counted();
    void **second = make_blocks(SECOND_PHASE_BLOCKS);
    second_phase_counted = allocs_counted() - before;
    free_blocks(first, FIRST_PHASE_BLOCKS);
    free_blocks(second, SECOND_PHASE_BLOCKS);
    return NULL;
}

static void test_early_thread_tracks_at_once(void **state) {
    (void)state;
    assert_int_equal(rallo_set_sample_interval(0), 0);
    rallo_disable();
    assert_int_equal(pthread_barrier_init(&step, NULL, 2), 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, early_thread, NULL), 0);
    pthread_barrier_wait(&step);
    assert_int_equal(rallo_enable(), 0);
    pthread_barrier_wait(&step);
    assert_int_equal(pthread_join(thread, NULL), 0);
    rallo_disable();
    pthread_barrier_destroy(&step);
    /* The blocks array and every block, in both phases. */
    print_message("first phase: %llu of %d allocations counted; second: %llu of %d\n",
                  (unsigned long long)first_phase_counted, FIRST_PHASE_BLOCKS + 1,
                  (unsigned long long)second_phase_counted, SECOND_PHASE_BLOCKS + 1);
    assert_int_equal(first_phase_counted, FIRST_PHASE_BLOCKS + 1);
    assert_int_equal(second_phase_counted, SECOND_PHASE_BLOCKS + 1);
}

/* ---- turning tracking off stops every thread at once ---- */

static uint64_t after_disable_counted;

static void *late_thread(void *arg) {
    (void)arg;
    allocate_and_free(BLOCK); /* its countdown is now the setting's, tracking on */
    pthread_barrier_wait(&step);
    pthread_barrier_wait(&step); /* tracking turned off by the main thread */
    uint64_t before = allocs_counted();
    /* Enough bytes to run out any sampling countdown many times. */
    void **blocks = make_blocks(4000);
    after_disable_counted = allocs_counted() - before;
    free_blocks(blocks, 4000);
    return NULL;
}

static void disable_stops(uint64_t interval) {
    assert_int_equal(rallo_set_sample_interval(interval), 0);
    assert_int_equal(rallo_enable(), 0);
    assert_int_equal(pthread_barrier_init(&step, NULL, 2), 0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, late_thread, NULL), 0);
    pthread_barrier_wait(&step);
    rallo_disable();
    pthread_barrier_wait(&step);
    assert_int_equal(pthread_join(thread, NULL), 0);
    pthread_barrier_destroy(&step);
    assert_int_equal(after_disable_counted, 0);
}

static void test_disable_stops_every_thread(void **state) {
    (void)state;
    disable_stops(0);
    disable_stops(4096);
    assert_int_equal(rallo_set_sample_interval(0), 0);
}

/* ---- fork ---- */

static void test_forked_child_tracks_every_allocation(void **state) {
    (void)state;
    assert_int_equal(rallo_set_sample_interval(0), 0);
    assert_int_equal(rallo_enable(), 0);
    allocate_and_free(BLOCK);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        uint64_t before = allocs_counted();
        void **blocks = make_blocks(50);
        uint64_t made = allocs_counted() - before;
        free_blocks(blocks, 50);
        rallo_disable();
        before = allocs_counted();
        allocate_and_free(BLOCK);
        uint64_t after_off = allocs_counted() - before;
        _exit(made == 51 && after_off == 0 ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    rallo_disable();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_thread_sees_its_change),
        cmocka_unit_test(test_new_thread_tracks_its_first_allocation),
        cmocka_unit_test(test_early_thread_tracks_at_once),
        cmocka_unit_test(test_disable_stops_every_thread),
        cmocka_unit_test(test_forked_child_tracks_every_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
