/* test_unwind_threads.c - the CFI unwinder's per-thread caches: threads come
 * and go (each unwinds a ten-deep chain built without frame pointers, the
 * benchmark's unwind_chain.c), every stack is right by name, and no cache
 * outlives its thread; a thread that unwinds again after its exit cleanup
 * freed its cache still gets the right stack, without one. Also which modules
 * count as pinned (never unloaded): the program and libc, not a dlopened
 * library. Linked with tracking/'s objects, so the unwinder is called
 * directly. */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../tracking/unwind/unwind_dwarf.h"

typedef uint32_t (*chain_leaf_fn)(void *arg);
uint32_t chain_level1(chain_leaf_fn leaf, void *arg);

#define THREAD_ROUNDS 40
#define THREADS_AT_ONCE 4
#define UNWINDS_PER_THREAD 50

/* What one unwind from the leaf found: the function names of its frames. */
typedef struct stack_seen {
    uint32_t depth;
    char names[16][48];
} stack_seen;

/* Unwinds from its caller (this file keeps frame pointers: the caller's
 * state is in our frame record), as _rallo_capture_site does from malloc's. */
static __attribute__((noinline)) uint32_t unwind_from_caller(uintptr_t *pcs, uint32_t max) {
    const uintptr_t *record = __builtin_frame_address(0);
    return _rallo_unwind_cfi(record[1], (uintptr_t)(record + 2), record[0], pcs, max, RALLO_UNWIND_DWARF);
}

static void name_frames(const uintptr_t *pcs, uint32_t depth, stack_seen *seen) {
    seen->depth = depth;
    for (uint32_t i = 0; i < depth && i < 16; i++) {
        Dl_info info;
        const char *name = dladdr((void *)(pcs[i] - 1), &info) && info.dli_sname ? info.dli_sname : "?";
        snprintf(seen->names[i], sizeof seen->names[i], "%s", name);
    }
}

/* chain_level10's leaf: unwinds `rounds` times (all but the first from the
 * caches) and names the last stack. */
typedef struct leaf_job {
    int rounds;
    stack_seen seen;
} leaf_job;

__attribute__((noinline)) uint32_t threads_leaf(void *arg) {
    leaf_job *job = arg;
    uintptr_t pcs[64];
    uint32_t depth = 0;
    for (int i = 0; i < job->rounds; i++)
        depth = unwind_from_caller(pcs, 64);
    name_frames(pcs, depth, &job->seen);
    return depth;
}

/* The leaf, the ten levels from chain_level10 down to chain_level1, then
 * `outer` (the function that called chain_level1). */
static void assert_chain(const stack_seen *seen, const char *outer) {
    assert_true(seen->depth >= 12);
    assert_string_equal(seen->names[0], "threads_leaf");
    for (int level = 10; level >= 1; level--) {
        char want[32];
        snprintf(want, sizeof want, "chain_level%d", level);
        assert_string_equal(seen->names[11 - level], want);
    }
    assert_string_equal(seen->names[11], outer);
}

static void learn_stack_bounds(void) {
    uintptr_t ignored[2];
    _rallo_unwind_fp(__builtin_frame_address(0), ignored, 2);
}

__attribute__((noinline)) void *churn_thread(void *arg) {
    learn_stack_bounds();
    leaf_job *job = arg;
    chain_level1(threads_leaf, job);
    return NULL;
}

static void caches_follow_threads(void **state) {
    (void)state;
    uint32_t before = _rallo_unwind_caches_live();
    for (int round = 0; round < THREAD_ROUNDS; round++) {
        pthread_t threads[THREADS_AT_ONCE];
        leaf_job jobs[THREADS_AT_ONCE];
        for (int t = 0; t < THREADS_AT_ONCE; t++) {
            jobs[t] = (leaf_job){.rounds = UNWINDS_PER_THREAD};
            assert_int_equal(pthread_create(&threads[t], NULL, churn_thread, &jobs[t]), 0);
        }
        for (int t = 0; t < THREADS_AT_ONCE; t++) {
            pthread_join(threads[t], NULL);
            assert_chain(&jobs[t].seen, "churn_thread");
        }
    }
    /* Every thread freed its cache on the way out. */
    assert_int_equal(_rallo_unwind_caches_live(), before);
}

/* Runs at thread exit after the unwinder's own cleanup (registered before
 * the thread's first unwind, so it runs after): the cache is gone by now. */
static leaf_job late_job;
static uint32_t caches_in_late_exit;

__attribute__((noinline)) void late_exit_unwind(void *arg) {
    (void)arg;
    late_job = (leaf_job){.rounds = 3};
    chain_level1(threads_leaf, &late_job);
    caches_in_late_exit = _rallo_unwind_caches_live(); /* none made again */
}

extern int __cxa_thread_atexit_impl(void (*fn)(void *), void *arg, void *dso);
extern void *__dso_handle;

__attribute__((noinline)) void *exiting_thread(void *arg) {
    leaf_job *job = arg;
    learn_stack_bounds();
    __cxa_thread_atexit_impl(late_exit_unwind, NULL, &__dso_handle);
    chain_level1(threads_leaf, job);
    return NULL;
}

static void unwinds_after_exit_cleanup(void **state) {
    (void)state;
    uint32_t before = _rallo_unwind_caches_live();
    leaf_job job = {.rounds = 2};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, exiting_thread, &job), 0);
    pthread_join(thread, NULL);
    assert_chain(&job.seen, "exiting_thread");
    /* The thread's cache was freed before its late destructor ran, which
     * unwound without one and got the same chain. */
    assert_int_equal(caches_in_late_exit, before);
    assert_chain(&late_job.seen, "late_exit_unwind");
    assert_int_equal(_rallo_unwind_caches_live(), before);
}

static bool module_pinned_at(uintptr_t pc) {
    rallo_module_key key;
    assert_true(_rallo_module_identify(pc, &key));
    const rallo_module *module = _rallo_module_get(pc, &key);
    assert_non_null(module);
    return module->pinned;
}

static void pinned_modules(void **state) {
    (void)state;
    assert_true(module_pinned_at((uintptr_t)&chain_level1)); /* the program */
    assert_true(module_pinned_at((uintptr_t)&getpid));       /* libc */
    void *library = dlopen(UNWIND_DL_LIB, RTLD_NOW);
    assert_non_null(library);
    void *function = dlsym(library, "dl_level_a");
    assert_non_null(function);
    assert_false(module_pinned_at((uintptr_t)function));
    dlclose(library);
}

int main(void) {
    learn_stack_bounds();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(caches_follow_threads),
        cmocka_unit_test(unwinds_after_exit_cleanup),
        cmocka_unit_test(pinned_modules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
