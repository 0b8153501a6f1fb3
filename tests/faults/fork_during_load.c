/* fork_during_load.c - fork() while another thread loads rallo's report
 * libraries (the first rallo_dump). A child forked in the middle of a dlopen
 * inherits glibc's half-updated list of loaded objects and dies at its own
 * next dlopen ("Inconsistency detected by ld.so"), so rallo makes fork() wait
 * for its loads (tracking/fork_forward.c). Each round is a fresh process (the
 * libraries are loaded once a process): one thread dumps for the first time
 * while the main thread forks children in a loop, each of which dlopens a
 * library and exits. Every child must exit 0. */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <rallo.h>

enum { ROUNDS = 60, MAX_CHILDREN = 400 };

static _Atomic int dump_done;

static void *first_dump(void *arg) {
    (void)arg;
    /* text: loads librallo-report.so, then librallo-symbolize.so to name frames. */
    (void)rallo_dump("/dev/null", "text");
    atomic_store(&dump_done, 1);
    return NULL;
}

/* One round, in a fresh process: exit status = children that did not exit 0
 * (capped), 100 + n when the round itself could not run. */
static int round_main(void) {
    void *blocks[64];
    for (int i = 0; i < 64; i++)
        blocks[i] = malloc(64 + (size_t)i);
    pthread_t dumper;
    if (pthread_create(&dumper, NULL, first_dump, NULL) != 0)
        return 101;
    int bad = 0, forked = 0;
    while (!atomic_load(&dump_done) && forked < MAX_CHILDREN) {
        pid_t pid = fork();
        if (pid < 0)
            return 102;
        if (pid == 0) {
            void *library = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
            _exit(library != NULL ? 0 : 3);
        }
        forked++;
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bad++;
    }
    pthread_join(dumper, NULL);
    for (int i = 0; i < 64; i++)
        free(blocks[i]);
    return bad > 99 ? 99 : bad;
}

static void children_forked_during_a_load_can_dlopen(void **state) {
    (void)state;
    int bad_rounds = 0;
    for (int round = 0; round < ROUNDS; round++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(round_main());
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_true(WEXITSTATUS(status) < 100);
        if (WEXITSTATUS(status) != 0) {
            fprintf(stderr, "round %d: %d children forked during the load failed\n", round,
                    WEXITSTATUS(status));
            bad_rounds++;
        }
    }
    assert_int_equal(bad_rounds, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(children_forked_during_a_load_can_dlopen)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
