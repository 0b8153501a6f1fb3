/* test_toggle_stress.c - one thread turns tracking on and off every ~2 ms
 * while 8 threads allocate, realloc and free blocks across each other (through
 * a shared exchange, so blocks are freed and resized by threads other than
 * their owner, in the other mode than they were made in). At the end, with
 * every block freed, every live counter must be exactly 0, and no free may
 * have found a bad header. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "sites.h"
#include "../common/random.h"

#define NOINLINE __attribute__((noinline, used))

enum { WORKERS = 8, EXCHANGE = 1024, LOCAL = 256 };
static const double RUN_SECONDS = 3.0;

static _Atomic(char *) exchange[EXCHANGE];
static _Atomic int stop = 0;
static sites_snapshot snap;

/* A block remembers its size in its first bytes, so any thread can check it. */
static void stamp(char *p, size_t size) {
    memcpy(p, &size, sizeof size);
    p[size - 1] = (char)size;
}
static void check(const char *p) {
    size_t size;
    memcpy(&size, p, sizeof size);
    assert_true(size >= sizeof size && size < (1u << 20));
    assert_int_equal((unsigned char)p[size - 1], (unsigned char)(char)size);
}

static size_t random_size(uint64_t *rng) {
    uint64_t r = next_random(rng);
    if (r % 100 == 0)
        return 16384 + r % 300000;
    return sizeof(size_t) + 1 + r % 600;
}

NOINLINE char *stress_alloc(uint64_t *rng) {
    size_t size = random_size(rng);
    uint64_t how = next_random(rng) % 10;
    char *p;
    if (how == 0)
        p = calloc(1, size);
    else if (how == 1)
        p = aligned_alloc((size_t)32 << (next_random(rng) % 10), size);
    else
        p = malloc(size);
    assert_non_null(p);
    stamp(p, size);
    return p;
}

NOINLINE char *stress_realloc(char *p, uint64_t *rng) {
    check(p);
    size_t size = random_size(rng);
    size_t old;
    memcpy(&old, p, sizeof old);
    char keep = p[sizeof old];
    char *q = realloc(p, size);
    assert_non_null(q);
    if (size > sizeof old)
        assert_int_equal(q[sizeof old], keep);
    stamp(q, size);
    return q;
}

static void *worker(void *arg) {
    uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)((intptr_t)arg + 1);
    char *local[LOCAL] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        uint64_t r = next_random(&rng);
        unsigned slot = (unsigned)(r >> 8) % LOCAL;
        switch (r % 4) {
        case 0: /* allocate into a local slot */
            if (local[slot] != NULL) {
                check(local[slot]);
                free(local[slot]);
            }
            local[slot] = stress_alloc(&rng);
            break;
        case 1: /* resize a local block */
            if (local[slot] != NULL)
                local[slot] = stress_realloc(local[slot], &rng);
            break;
        case 2: { /* trade a block with the exchange: another thread frees or resizes it */
            char *theirs = atomic_exchange(&exchange[(r >> 20) % EXCHANGE], local[slot]);
            local[slot] = theirs;
            if (theirs != NULL && (r >> 40) % 2 == 0)
                local[slot] = stress_realloc(theirs, &rng);
            break;
        }
        default: /* free a block someone else made */
            if (local[slot] != NULL) {
                check(local[slot]);
                free(local[slot]);
                local[slot] = NULL;
            }
        }
    }
    for (unsigned i = 0; i < LOCAL; i++)
        free(local[i]);
    return NULL;
}

static void test_toggle_under_load(void **state) {
    (void)state;
    pthread_t workers[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&workers[i], NULL, worker, (void *)(intptr_t)i), 0);
    struct timespec start, now, pause = {0, 2000000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned toggles = 0;
    do {
        if (toggles % 2 == 0)
            assert_int_equal(rallo_enable(), 0);
        else
            rallo_disable();
        toggles++;
        nanosleep(&pause, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) * 1e-9 <
             RUN_SECONDS);
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i], NULL);
    for (unsigned i = 0; i < EXCHANGE; i++)
        free(atomic_exchange(&exchange[i], NULL));
    rallo_disable();

    sites_take(&snap, rallo_for_each_site);
    uint64_t allocs = 0;
    for (uint32_t i = 0; i < snap.count; i++) {
        const rallo_site *site = &snap.sites[i].site;
        allocs += site->alloc_count;
        /* cmocka's own bookkeeping from before the test may still be live; the
         * workers' sites must be empty. */
        if (!stack_has(site, "worker"))
            continue;
        if (site->live_count != 0 || site->live_bytes != 0 || site->alloc_bytes != site->free_bytes)
            fprintf(stderr, "site %u: live %llu objects %llu bytes\n", site->site_id,
                    (unsigned long long)site->live_count, (unsigned long long)site->live_bytes);
        assert_int_equal(site->live_count, 0);
        assert_int_equal(site->live_bytes, 0);
        assert_int_equal(site->alloc_count, site->free_count);
        assert_int_equal(site->alloc_bytes, site->free_bytes);
    }
    rallo_totals totals;
    rallo_get_totals(&totals);
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    print_message("%u toggles, %llu tracked allocations, %u sites, untracked: arena_full %llu thread_exiting "
                  "%llu bad_header %llu; totals live %llu bytes\n",
                  toggles, (unsigned long long)allocs, snap.count, (unsigned long long)untracked.arena_full,
                  (unsigned long long)untracked.thread_exiting, (unsigned long long)untracked.bad_header,
                  (unsigned long long)totals.live_bytes);
    assert_true(toggles > 10);
    assert_true(allocs > 10000);
    assert_int_equal(totals.live_count, 0);
    assert_int_equal(totals.live_bytes, 0);
    assert_int_equal(totals.alloc_bytes, totals.free_bytes);
    assert_int_equal(untracked.bad_header, 0);
    assert_int_equal(untracked.arena_full, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_toggle_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
