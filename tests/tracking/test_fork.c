/* test_fork.c - fork() while other threads allocate with tracking on: the
 * child inherits a consistent state (no lock held by a thread that does not
 * exist in it), frees blocks the parent tracked, allocates, disables and
 * enables, and reads totals and sites that add up. */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sites.h"

#define NOINLINE __attribute__((noinline, used))

enum { BUSY_THREADS = 3, FORKS = 40, KEPT = 100 };
static _Atomic int stop = 0;
static sites_snapshot snap;

/* New stacks keep the depot inserting while the main thread forks. */
NOINLINE void busy_depth(int depth, uint64_t r) {
    if (depth > 0) {
        busy_depth(depth - 1, r);
        __asm__ volatile("" ::: "memory");
        return;
    }
    /* A local, not a shared global: threads passing blocks through one global
     * freed each other's blocks twice (a double free that hung mimalloc's
     * thread cleanup about once in 50 runs). */
    void *block = malloc(16 + r % 2000);
    __asm__ volatile("" : : "r"(block) : "memory");
    free(block);
}
NOINLINE void *busy(void *arg) {
    uint64_t r = (uint64_t)(intptr_t)arg + 1;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        busy_depth((int)(r >> 60), r >> 20);
    }
    return NULL;
}

NOINLINE void *parent_site(size_t i) {
    return malloc(100 + i);
}
NOINLINE void *child_site(size_t i) {
    return malloc(200 + i);
}

/* Runs in the child; returns the line that failed, or 0. */
static int child_checks(void **kept) {
    for (int i = 0; i < KEPT; i++)
        free(kept[i]);
    void *mine[KEPT];
    for (int i = 0; i < KEPT; i++)
        if ((mine[i] = child_site((size_t)i)) == NULL)
            return __LINE__;
    rallo_totals totals;
    rallo_get_totals(&totals);
    if (totals.alloc_count < KEPT || totals.live_count > totals.alloc_count)
        return __LINE__;
    rallo_disable();
    if (rallo_is_enabled())
        return __LINE__;
    sites_take(&snap, rallo_for_each_site);
    int how_many;
    const rallo_site *parent = site_by_leaf(&snap, "parent_site", &how_many);
    if (how_many != 1 || parent->live_count != 0) /* the child freed its copies */
        return __LINE__;
    const rallo_site *child = site_by_leaf(&snap, "child_site", &how_many);
    if (how_many != 1 || child->alloc_count != KEPT || child->live_count != KEPT)
        return __LINE__;
    if (rallo_enable() != 0 || !rallo_is_enabled())
        return __LINE__;
    for (int i = 0; i < KEPT; i++)
        free(mine[i]);
    sites_take(&snap, rallo_for_each_site);
    child = site_by_leaf(&snap, "child_site", &how_many);
    if (how_many != 1 || child->live_count != 0 || child->free_bytes != child->alloc_bytes)
        return __LINE__;
    return 0;
}

void test_fork_child_state(void **state);
void test_fork_child_state(void **state) {
    (void)state;
    assert_int_equal(rallo_enable(), 0);
    pthread_t threads[BUSY_THREADS];
    for (int i = 0; i < BUSY_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, busy, (void *)(intptr_t)i), 0);
    void *kept[KEPT];
    for (int i = 0; i < KEPT; i++)
        kept[i] = parent_site((size_t)i);
    for (int f = 0; f < FORKS; f++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(child_checks(kept));
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fprintf(stderr, "child %d: %s %d (line of test_fork.c)\n", f,
                    WIFEXITED(status) ? "failed at" : "killed by signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < BUSY_THREADS; i++)
        pthread_join(threads[i], NULL);
    rallo_disable();
    /* The parent's blocks are still live here: the children freed copies. */
    sites_take(&snap, rallo_for_each_site);
    int how_many;
    const rallo_site *parent = site_by_leaf(&snap, "parent_site", &how_many);
    assert_int_equal(how_many, 1);
    assert_int_equal(parent->live_count, KEPT);
    for (int i = 0; i < KEPT; i++)
        free(kept[i]);
}

enum { SAMPLE_INTERVAL = 4096, SAMPLED_PAIRS = 100000, SAMPLE_ROUNDS = 3 };

/* The estimated allocations of SAMPLED_PAIRS malloc/free pairs of 64 bytes
 * sampled at SAMPLE_INTERVAL: about 1,500 sample points drawn by this thread. */
static uint64_t sampled_estimate(void) {
    rallo_totals before, after;
    rallo_get_totals(&before);
    for (int i = 0; i < SAMPLED_PAIRS; i++) {
        void *block = malloc(64);
        __asm__ volatile("" : : "r"(block) : "memory");
        free(block);
    }
    rallo_get_totals(&after);
    return after.alloc_count - before.alloc_count;
}

/* After fork, the child draws sample points of its own: the same allocations
 * in parent and child right after fork() must not come out sampled the same
 * way. With one generator state in both, the estimates are equal every time;
 * with independent points they are equal in a round about 1% of the time, so
 * the test asks that at least one of three rounds differs. */
static void test_fork_child_samples_its_own_points(void **state) {
    (void)state;
    assert_int_equal(rallo_set_sample_interval(SAMPLE_INTERVAL), 0);
    assert_int_equal(rallo_enable(), 0);
    int rounds_differing = 0;
    for (int round = 0; round < SAMPLE_ROUNDS; round++) {
        int pipe_fds[2];
        assert_int_equal(pipe(pipe_fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        uint64_t estimate = sampled_estimate(); /* first thing after fork, in both */
        if (pid == 0) {
            ssize_t written = write(pipe_fds[1], &estimate, sizeof estimate);
            _exit(written == (ssize_t)sizeof estimate ? 0 : 1);
        }
        uint64_t child_estimate = 0;
        assert_int_equal(read(pipe_fds[0], &child_estimate, sizeof child_estimate),
                         (ssize_t)sizeof child_estimate);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        assert_true(estimate > 0 && child_estimate > 0);
        rounds_differing += estimate != child_estimate;
    }
    rallo_disable();
    assert_int_equal(rallo_set_sample_interval(1), 0);
    assert_true(rounds_differing > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_child_state),
        cmocka_unit_test(test_fork_child_samples_its_own_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
