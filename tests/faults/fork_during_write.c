/* fork_during_write.c - fork() and exit() never wait for a dump's writing
 * (issue 14.8), shown by order rather than by time: this program defines its
 * own fsync(), exported to the libraries it loads, which holds the dumper
 * thread inside the writing of a periodic dump until the test lets it go.
 * With the dump stuck there, fork() must return and its child exit, and a
 * process must be able to exit(); before rallo waited only for the snapshot
 * copy, both waited for the whole dump and never returned. Each case runs in
 * a child process watched by the parent with a deadline, so a wait that never
 * ends is a failure, not a hung test. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <rallo.h>

enum { SITES = 64, DEADLINE_S = 20 };

/* Set once a dump's fsync is being held; the holding stops only at exit. */
static _Atomic int writer_held;
static _Atomic int hold_writer;

/* Live blocks for the dumps to hold (file scope: never freed, never unused). */
void *live_blocks[SITES];

typedef int (*fsync_fn)(int);

/* The dump's temporary file is synced before it is renamed (dump-file.c): a
 * dumper thread that calls this is in the middle of writing a dump. */
__attribute__((visibility("default"))) int fsync(int fd) {
    static fsync_fn real_fsync;
    if (real_fsync == NULL)
        real_fsync = (fsync_fn)dlsym(RTLD_NEXT, "fsync");
    if (atomic_load(&hold_writer)) {
        atomic_store(&writer_held, 1);
        for (;;)
            pause(); /* held until the process ends */
    }
    return real_fsync(fd);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Tracks some sites, starts periodic dumps into `dir` and waits until the
 * dumper thread is held inside a dump's writing. 0 when it is. */
static int hold_a_dump(const char *dir) {
    if (rallo_enable() != 0)
        return 1;
    for (int i = 0; i < SITES; i++)
        live_blocks[i] = malloc(64 + (size_t)i);
    atomic_store(&hold_writer, 1);
    if (rallo_dump_every(0.1, dir, "pprof") != 0)
        return 2;
    for (int waited = 0; !atomic_load(&writer_held); waited += 10) {
        if (waited > DEADLINE_S * 1000)
            return 3;
        sleep_ms(10);
    }
    return 0;
}

/* Runs `body` in a child process; the child's exit status, or -1 when it was
 * still running at the deadline (it is killed) or died of a signal. */
static int run_with_deadline(int (*body)(const char *), const char *dir) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(body(dir));
    assert_true(pid > 0);
    int status = 0;
    for (int waited = 0; waited < (DEADLINE_S + 10) * 1000; waited += 10) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* With a dump held in its writing, fork() returns and the child exits 0. */
static int fork_while_held(const char *dir) {
    int rc = hold_a_dump(dir);
    if (rc != 0)
        return 10 + rc;
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    if (child < 0)
        return 20;
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 21;
    _exit(0); /* the held dumper thread never ends; _exit does not wait for it */
}

/* With a dump held in its writing, exit() (atexit handlers, rallo's among
 * them) returns to the kernel. */
static int exit_while_held(const char *dir) {
    int rc = hold_a_dump(dir);
    if (rc != 0)
        return 10 + rc;
    exit(0);
}

static char *make_dump_dir(void) {
    char *dir = strdup("/tmp/rallo-fork-write-XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void remove_dump_dir(char *dir) {
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    assert_int_equal(system(command), 0);
    free(dir);
}

static void fork_does_not_wait_for_writing(void **state) {
    (void)state;
    char *dir = make_dump_dir();
    assert_int_equal(run_with_deadline(fork_while_held, dir), 0);
    remove_dump_dir(dir);
}

static void exit_does_not_wait_for_writing(void **state) {
    (void)state;
    char *dir = make_dump_dir();
    assert_int_equal(run_with_deadline(exit_while_held, dir), 0);
    remove_dump_dir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fork_does_not_wait_for_writing),
        cmocka_unit_test(exit_does_not_wait_for_writing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
