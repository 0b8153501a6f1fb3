/* test_thread_exit.c - threads that exit with live tracked blocks (freed later
 * by other threads), pthread key destructors that allocate and free after
 * mimalloc's own thread cleanup, and mi_thread_done() called by hand: no
 * crash, and every counter exact. Also checks the facts the tracked path
 * relies on: mimalloc's thread cleanup deletes our arena heap (so the thread
 * must stop using it) and allocations after it go untracked and counted. */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>
#include <mimalloc.h>

#include "sites.h"

#define NOINLINE __attribute__((noinline, used))

static sites_snapshot snap;

static const rallo_site *one_site(const char *leaf) {
    int how_many = 0;
    const rallo_site *site = site_by_leaf(&snap, leaf, &how_many);
    if (how_many != 1)
        sites_print(&snap);
    assert_int_equal(how_many, 1);
    return site;
}

enum { THREADS = 16, PER_THREAD = 300, SIZE = 72 };
static void *left_behind[THREADS][PER_THREAD];

NOINLINE void exiting_site(int t) {
    for (int i = 0; i < PER_THREAD; i++)
        left_behind[t][i] = malloc(SIZE);
}

/* A key destructor: runs after the thread's own cleanup (mimalloc's and
 * rallo's); allocates, frees one of this thread's tracked blocks, frees its
 * own allocation. */
static pthread_key_t late_key;
static void *volatile late_block; /* volatile: the compiler may not drop the malloc/free pair */
NOINLINE void late_site(void) {
    late_block = malloc(123);
    free(late_block);
}
static void late_destructor(void *value) {
    late_site();
    free(value); /* a tracked block of this thread, freed during its exit */
}

NOINLINE void *exiting_thread(void *arg) {
    int t = (int)(intptr_t)arg;
    exiting_site(t);
    /* One extra tracked block freed by the key destructor. */
    pthread_setspecific(late_key, malloc(SIZE));
    return NULL;
}

void test_exit_with_live_blocks(void **state);
void test_exit_with_live_blocks(void **state) {
    (void)state;
    assert_int_equal(pthread_key_create(&late_key, late_destructor), 0);
    assert_int_equal(rallo_enable(), 0);
    for (int round = 0; round < 2; round++) { /* the second round reuses shards of exited threads */
        pthread_t threads[THREADS];
        for (int t = 0; t < THREADS; t++)
            assert_int_equal(pthread_create(&threads[t], NULL, exiting_thread, (void *)(intptr_t)t), 0);
        for (int t = 0; t < THREADS; t++)
            pthread_join(threads[t], NULL);
        sites_take(&snap, rallo_for_each_site);
        const rallo_site *site = one_site("exiting_site");
        assert_int_equal(site->alloc_count, (uint64_t)(round + 1) * THREADS * PER_THREAD);
        assert_int_equal(site->live_count, (uint64_t)THREADS * PER_THREAD);
        assert_int_equal(site->live_bytes, (uint64_t)THREADS * PER_THREAD * SIZE);
        /* The key destructor's blocks: tracked at exiting_thread, all freed. */
        const rallo_site *keyed = one_site("exiting_thread");
        assert_int_equal(keyed->alloc_count, (uint64_t)(round + 1) * THREADS);
        assert_int_equal(keyed->live_count, 0);
        /* Frees from the main thread, after their owners exited. */
        for (int t = 0; t < THREADS; t++)
            for (int i = 0; i < PER_THREAD; i++)
                free(left_behind[t][i]);
        sites_take(&snap, rallo_for_each_site);
        site = one_site("exiting_site");
        assert_int_equal(site->live_count, 0);
        assert_int_equal(site->live_bytes, 0);
        assert_int_equal(site->free_bytes, (uint64_t)(round + 1) * THREADS * PER_THREAD * SIZE);
    }
    /* Allocations made past a thread's exit cleanup go untracked, counted. */
    int how_many;
    assert_null(site_by_leaf(&snap, "late_site", &how_many));
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    print_message("untracked: thread_exiting %llu\n", (unsigned long long)untracked.thread_exiting);
    assert_true(untracked.thread_exiting >= 2 * THREADS);
    assert_int_equal(untracked.bad_header, 0);
    rallo_disable();
    pthread_key_delete(late_key);
}

/* mi_thread_done() by hand: mimalloc deletes every heap of the thread, ours
 * included. The thread must notice and allocate untracked from then on. */
typedef struct done_result {
    mi_heap_t *default_before, *default_after;
    void *tracked_before, *after[64];
} done_result;

NOINLINE void *before_done_site(void) {
    return malloc(40);
}
NOINLINE void *after_done_site(size_t size) {
    return malloc(size);
}

NOINLINE void *thread_done_by_hand(void *arg) {
    done_result *result = arg;
    result->tracked_before = before_done_site();
    result->default_before = mi_heap_get_default();
    mi_thread_done();
    for (int i = 0; i < 64; i++)
        result->after[i] = after_done_site(16 + (size_t)i * 100);
    result->default_after = mi_heap_get_default();
    free(result->tracked_before);
    return NULL;
}

void test_mi_thread_done(void **state);
void test_mi_thread_done(void **state) {
    (void)state;
    assert_int_equal(rallo_enable(), 0);
    done_result result;
    memset(&result, 0, sizeof result);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, thread_done_by_hand, &result), 0);
    pthread_join(thread, NULL);
    rallo_disable();
    print_message("default heap before mi_thread_done %p, after %p\n", (void *)result.default_before,
                  (void *)result.default_after);
    for (int i = 0; i < 64; i++) {
        assert_non_null(result.after[i]);
        memset(result.after[i], 1, 16 + (size_t)i * 100);
        free(result.after[i]);
    }
    sites_take(&snap, rallo_for_each_site);
    const rallo_site *before = one_site("before_done_site");
    assert_int_equal(before->live_count, 0);
    /* Either the thread saw its heap was gone (untracked: no site) or it made a
     * new one; what it must not do is use the deleted heap. */
    int how_many;
    const rallo_site *after = site_by_leaf(&snap, "after_done_site", &how_many);
    if (after != NULL)
        assert_int_equal(after->live_count, 0);
    rallo_untracked untracked;
    rallo_get_untracked(&untracked);
    assert_int_equal(untracked.bad_header, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_with_live_blocks),
        cmocka_unit_test(test_mi_thread_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
