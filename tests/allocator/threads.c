/* threads.c - threads allocating and freeing across each other (one frees
 * what another allocated), threads exiting with live blocks that others free
 * later, and fork() from a threaded program (the child allocates, frees the
 * parent's blocks, turns tracking off and on). Run as `threads off|on`. Each
 * scenario runs in a sandbox child that creates its threads before turning
 * tracking on (glibc's own per-thread allocations stay untracked), so at the
 * end, with everything freed, the totals must show nothing live: exactly. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "entry-points.h"
#include "sandbox.h"

#define THREADS 8
#define BLOCKS 2000
#define ROUNDS 6

static bool tracking;

static void tracking_start(void) {
    if (tracking)
        CHECK(rallo_enable() == 0, "rallo_enable");
}

static void expect_nothing_live(const char *when) {
    rallo_totals totals;
    rallo_get_totals(&totals);
    CHECK(totals.live_count == 0 && totals.live_bytes == 0, "%s: %llu blocks, %llu bytes still live", when,
          (unsigned long long)totals.live_count, (unsigned long long)totals.live_bytes);
    CHECK(totals.alloc_count == totals.free_count, "%s: %llu allocs, %llu frees", when,
          (unsigned long long)totals.alloc_count, (unsigned long long)totals.free_count);
    if (!tracking)
        CHECK(totals.alloc_count == 0, "tracking off, yet %llu allocations counted",
              (unsigned long long)totals.alloc_count);
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    CHECK(untracked.bad_header == 0, "%s: %llu frees with a bad header", when,
          (unsigned long long)untracked.bad_header);
}

static size_t block_size(unsigned owner, unsigned k) {
    return 1 + (owner * 131 + k * 37) % 3000;
}

/* A block of the owner's pattern, made by a rotating choice of entry point. */
static unsigned char *block_new(unsigned owner, unsigned k) {
    size_t size = block_size(owner, k);
    unsigned char *p;
    switch (k % 4) {
    case 0: p = malloc(size); break;
    case 1: p = calloc(1, size); break;
    case 2: CHECK(posix_memalign((void **)&p, 64, size) == 0, "posix_memalign"); break;
    default: p = realloc(malloc(size / 2 + 1), size); break;
    }
    CHECK(p != NULL, "allocation of %zu failed", size);
    memset(p, (int)owner + 1, size);
    return p;
}

static void block_check_free(unsigned char *p, unsigned owner, unsigned k) {
    size_t size = block_size(owner, k);
    CHECK(p[0] == owner + 1 && p[size - 1] == owner + 1, "block of thread %u overwritten", owner);
    if (k % 5 == 0)
        cfree(p);
    else
        free(p);
}

/* ---- threads freeing each other's blocks ---- */

static unsigned char *slots[THREADS][BLOCKS];
static pthread_barrier_t round_barrier;

static void *cross_worker(void *arg) {
    unsigned self = (unsigned)(uintptr_t)arg;
    pthread_barrier_wait(&round_barrier); /* tracking is on past this point */
    for (int round = 0; round < ROUNDS; round++) {
        for (unsigned k = 0; k < BLOCKS; k++)
            slots[self][k] = block_new(self, k);
        pthread_barrier_wait(&round_barrier);
        unsigned other = (self + 1) % THREADS; /* free what the next thread made */
        for (unsigned k = 0; k < BLOCKS; k++)
            block_check_free(slots[other][k], other, k);
        pthread_barrier_wait(&round_barrier);
    }
    return NULL;
}

static void cross_free_scenario(void *arg) {
    (void)arg;
    pthread_t threads[THREADS];
    pthread_barrier_init(&round_barrier, NULL, THREADS + 1);
    for (unsigned i = 0; i < THREADS; i++)
        CHECK(pthread_create(&threads[i], NULL, cross_worker, (void *)(uintptr_t)i) == 0, "pthread_create");
    tracking_start();
    pthread_barrier_wait(&round_barrier);
    for (int round = 0; round < ROUNDS; round++) {
        pthread_barrier_wait(&round_barrier);
        pthread_barrier_wait(&round_barrier);
    }
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    expect_nothing_live("after cross-thread frees");
    rallo_totals totals;
    rallo_get_totals(&totals);
    /* Every block made counted once (a realloc counts a free and an allocation). */
    if (tracking)
        CHECK(totals.alloc_count == (uint64_t)THREADS * ROUNDS * (BLOCKS + BLOCKS / 4), "%llu allocations",
              (unsigned long long)totals.alloc_count);
}

static void test_threads_free_each_others_blocks(void **state) {
    (void)state;
    assert_int_equal(sandbox_exit_code(sandbox_run(cross_free_scenario, NULL)), 0);
}

/* ---- threads exiting with live blocks, freed later by other threads ---- */

static pthread_barrier_t start_barrier, freers_barrier;

static void *exiting_worker(void *arg) {
    unsigned self = (unsigned)(uintptr_t)arg;
    pthread_barrier_wait(&start_barrier);
    for (unsigned k = 0; k < BLOCKS; k++)
        slots[self][k] = block_new(self, k);
    return NULL; /* exits holding its blocks */
}

static void *late_freer(void *arg) {
    unsigned self = (unsigned)(uintptr_t)arg; /* frees the blocks of two exited threads */
    pthread_barrier_wait(&start_barrier);
    pthread_barrier_wait(&freers_barrier);
    for (unsigned owner = 2 * self; owner < 2 * self + 2; owner++)
        for (unsigned k = 0; k < BLOCKS; k++)
            block_check_free(slots[owner][k], owner, k);
    return NULL;
}

static void exiting_scenario(void *arg) {
    (void)arg;
    pthread_t workers[THREADS], freers[THREADS / 2];
    pthread_barrier_init(&start_barrier, NULL, THREADS + THREADS / 2 + 1);
    pthread_barrier_init(&freers_barrier, NULL, THREADS / 2 + 1);
    for (unsigned i = 0; i < THREADS; i++)
        CHECK(pthread_create(&workers[i], NULL, exiting_worker, (void *)(uintptr_t)i) == 0, "pthread_create");
    for (unsigned i = 0; i < THREADS / 2; i++)
        CHECK(pthread_create(&freers[i], NULL, late_freer, (void *)(uintptr_t)i) == 0, "pthread_create");
    tracking_start();
    pthread_barrier_wait(&start_barrier);
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(workers[i], NULL);
    /* The owners are gone; their blocks are still counted, exactly. */
    uint64_t bytes = 0;
    for (unsigned i = 0; i < THREADS; i++)
        for (unsigned k = 0; k < BLOCKS; k++)
            bytes += block_size(i, k);
    rallo_totals totals;
    rallo_get_totals(&totals);
    if (tracking)
        CHECK(totals.live_count == (uint64_t)THREADS * BLOCKS && totals.live_bytes == bytes,
              "live after exit: %llu blocks, %llu bytes (want %u, %llu)",
              (unsigned long long)totals.live_count, (unsigned long long)totals.live_bytes, THREADS * BLOCKS,
              (unsigned long long)bytes);
    pthread_barrier_wait(&freers_barrier);
    for (unsigned i = 0; i < THREADS / 2; i++)
        pthread_join(freers[i], NULL);
    expect_nothing_live("after exited threads' blocks were freed");
}

static void test_threads_exit_with_live_blocks(void **state) {
    (void)state;
    assert_int_equal(sandbox_exit_code(sandbox_run(exiting_scenario, NULL)), 0);
}

/* ---- fork from a threaded program ---- */

#define FORK_WORKERS 4
#define FORK_SLOTS 512
#define FORKS 6

/* Each worker keeps a ring of live blocks; `published` says which slots hold a
 * finished block, so a fork child knows what it may free. */
static unsigned char *ring[FORK_WORKERS][FORK_SLOTS];
static _Atomic uint64_t published[FORK_WORKERS][FORK_SLOTS / 64];
static atomic_bool stop_workers;

static void *churn_worker(void *arg) {
    unsigned self = (unsigned)(uintptr_t)arg;
    pthread_barrier_wait(&start_barrier);
    for (unsigned k = 0; !atomic_load(&stop_workers); k++) {
        unsigned slot = k % FORK_SLOTS;
        _Atomic uint64_t *word = &published[self][slot / 64];
        uint64_t bit = 1ull << (slot % 64);
        if (atomic_load(word) & bit) {
            atomic_fetch_and(word, ~bit);
            block_check_free(ring[self][slot], self, slot);
        }
        ring[self][slot] = block_new(self, slot);
        atomic_fetch_or(word, bit);
    }
    return NULL;
}

static void fork_child(void) {
    rallo_totals before, after;
    rallo_get_totals(&before);
    /* The child allocates: counted exactly when tracking is on. */
    void *mine[1000];
    for (unsigned k = 0; k < 1000; k++)
        mine[k] = block_new(7, k);
    rallo_get_totals(&after);
    CHECK(after.alloc_count - before.alloc_count == (tracking ? 1000 + 1000 / 4 : 0), "child allocations");
    for (unsigned k = 0; k < 1000; k++)
        block_check_free(mine[k], 7, k);
    /* It frees the parent's published blocks (made by threads that do not exist here). */
    for (unsigned w = 0; w < FORK_WORKERS; w++)
        for (unsigned slot = 0; slot < FORK_SLOTS; slot++)
            if (atomic_load(&published[w][slot / 64]) & (1ull << (slot % 64)))
                block_check_free(ring[w][slot], w, slot);
    /* Off and on again. */
    if (tracking) {
        rallo_disable();
        CHECK(!rallo_is_enabled(), "disabled");
        rallo_get_totals(&before);
        void *p = malloc(100);
        free(p);
        rallo_get_totals(&after);
        CHECK(after.alloc_count == before.alloc_count, "untracked while disabled");
        CHECK(rallo_enable() == 0, "re-enable in the child");
        p = malloc(100);
        rallo_get_totals(&after);
        CHECK(after.alloc_count == before.alloc_count + 1, "tracked after re-enable");
        free(p);
    }
    /* What is left live: at most the one block each worker had made but not
     * yet published when the parent forked. */
    rallo_get_totals(&after);
    CHECK(after.live_count <= FORK_WORKERS, "child: %llu blocks live", (unsigned long long)after.live_count);
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    CHECK(untracked.bad_header == 0, "child: bad headers");
    _exit(0);
}

static void fork_scenario(void *arg) {
    (void)arg;
    pthread_t workers[FORK_WORKERS];
    pthread_barrier_init(&start_barrier, NULL, FORK_WORKERS + 1);
    for (unsigned i = 0; i < FORK_WORKERS; i++)
        CHECK(pthread_create(&workers[i], NULL, churn_worker, (void *)(uintptr_t)i) == 0, "pthread_create");
    tracking_start();
    pthread_barrier_wait(&start_barrier);
    for (int f = 0; f < FORKS; f++) {
        usleep(20000); /* let the workers churn */
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0)
            fork_child();
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork child %d failed (status %d)", f, status);
    }
    atomic_store(&stop_workers, true);
    for (unsigned i = 0; i < FORK_WORKERS; i++)
        pthread_join(workers[i], NULL);
    for (unsigned w = 0; w < FORK_WORKERS; w++)
        for (unsigned slot = 0; slot < FORK_SLOTS; slot++)
            if (atomic_load(&published[w][slot / 64]) & (1ull << (slot % 64)))
                block_check_free(ring[w][slot], w, slot);
    expect_nothing_live("parent after fork children");
}

static void test_fork_from_threaded_program(void **state) {
    (void)state;
    assert_int_equal(sandbox_exit_code(sandbox_run(fork_scenario, NULL)), 0);
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "on") != 0 && strcmp(argv[1], "off") != 0)) {
        fprintf(stderr, "usage: %s on|off\n", argv[0]);
        return 2;
    }
    tracking = strcmp(argv[1], "on") == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_free_each_others_blocks),
        cmocka_unit_test(test_threads_exit_with_live_blocks),
        cmocka_unit_test(test_fork_from_threaded_program),
    };
    return cmocka_run_group_tests_name(tracking ? "threads (tracking on)" : "threads (tracking off)", tests,
                                       NULL, NULL);
}
