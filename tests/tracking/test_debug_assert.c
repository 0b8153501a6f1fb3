/* test_debug_assert.c - the tiered debug assertions (include/internal/
 * compiler.h), built at the level RALLO_DEBUG this file is compiled with
 * (tests/tracking/CMakeLists.txt builds it at 0, 1 and 2): a failing
 * rallo_assert aborts, with its line on stderr, from level 1; a failing
 * rallo_assert_hot from level 2; below its level a condition is not even
 * evaluated. Each failing assertion runs in a child whose end is checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal/compiler.h"

static int evaluated;

__attribute__((unused)) static int false_counted(void) {
    evaluated++;
    return 0;
}

/* Runs the assertion `which` (0: rallo_assert, 1: rallo_assert_hot) on a false
 * condition in a child; true when the child aborted saying so. */
static bool child_aborts(int which) {
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        dup2(pipe_fds[1], STDERR_FILENO);
        if (which == 0)
            rallo_assert(false_counted());
        else
            rallo_assert_hot(false_counted());
        _exit(evaluated == 0 ? 0 : 3);
    }
    close(pipe_fds[1]);
    char line[512] = {0};
    size_t got = 0;
    ssize_t n;
    while (got < sizeof line - 1 && (n = read(pipe_fds[0], line + got, sizeof line - 1 - got)) > 0)
        got += (size_t)n;
    close(pipe_fds[0]);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    if (WIFEXITED(status)) {
        assert_int_equal(WEXITSTATUS(status), 0); /* not evaluated, not fired */
        return false;
    }
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    assert_non_null(strstr(line, "rallo: assertion failed: false_counted()"));
    assert_non_null(strstr(line, "test_debug_assert.c"));
    return true;
}

static void test_levels(void **state) {
    (void)state;
    assert_int_equal(child_aborts(0), RALLO_DEBUG >= 1);
    assert_int_equal(child_aborts(1), RALLO_DEBUG >= 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_levels)};
    return cmocka_run_group_tests_name("debug_assert", tests, NULL, NULL);
}
