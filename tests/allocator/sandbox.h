/* sandbox.h - runs a scenario in a forked child, so it starts with no tracked
 * blocks (the test process never enables tracking itself), may crash or break
 * the heap on purpose, and reports by its exit status. Inside the child use
 * CHECK: cmocka's asserts belong to the parent. */
#ifndef RALLO_TEST_SANDBOX_H
#define RALLO_TEST_SANDBOX_H

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);                         \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
            _exit(1);                                                                                        \
        }                                                                                                    \
    } while (0)

/* Runs fn(arg) in a child; returns its wait status. */
static inline int sandbox_run(void (*fn)(void *arg), void *arg) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    int status = -1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    return status;
}

static inline int sandbox_exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#endif
