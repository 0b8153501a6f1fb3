/* test_door.c - a report library's check of the door (report/inproc/door.c)
 * against the table librallo hands it, here a table this test makes before
 * the check runs at load (in a fresh run of this program for each case): the
 * right version and size open the door; another version, or another size,
 * leave it shut (_rallo_door stays NULL) after one line on stderr, and a
 * second check says nothing more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../tracking/door.h"

static rallo_door offered;

/* Stands in for librallo's (tracking/door.c). */
const rallo_door *_rallo_door_get(void) {
    return &offered;
}

/* In the child (TEST_DOOR_CASE set), the table is made before door.c's
 * constructor (110) checks it, as librallo's is before a report library is
 * loaded. */
__attribute__((constructor(101))) static void offered_make(void) {
    const char *which = getenv("TEST_DOOR_CASE");
    offered = (rallo_door){.version = RALLO_DOOR_VERSION, .size = sizeof(rallo_door)};
    if (which != NULL && strcmp(which, "version") == 0)
        offered.version = RALLO_DOOR_VERSION + 1;
    if (which != NULL && strcmp(which, "size") == 0)
        offered.size = sizeof(rallo_door) - sizeof(void *);
}

/* The child: checked once at load; asked again here, the answer is the same
 * and nothing more is said. Exit 0: open, 1: shut, 3: inconsistent. */
static int child_main(void) {
    bool first = _rallo_door_open();
    bool second = _rallo_door_open();
    bool consistent = first == second && (first ? _rallo_door == &offered : _rallo_door == NULL);
    return !consistent ? 3 : first ? 0 : 1;
}

/* Runs this program as the child for `which`; *said gets its stderr. True
 * when the door opened. */
static bool check_in_child(const char *which, char *said, size_t size) {
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        dup2(pipe_fds[1], STDERR_FILENO);
        setenv("TEST_DOOR_CASE", which, 1);
        execl("/proc/self/exe", "test_door", (char *)NULL);
        _exit(4);
    }
    close(pipe_fds[1]);
    size_t got = 0;
    ssize_t n;
    memset(said, 0, size);
    while (got < size - 1 && (n = read(pipe_fds[0], said + got, size - 1 - got)) > 0)
        got += (size_t)n;
    close(pipe_fds[0]);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_true(WEXITSTATUS(status) <= 1);
    return WEXITSTATUS(status) == 0;
}

static size_t lines(const char *text) {
    size_t count = 0;
    for (; *text != '\0'; text++)
        count += *text == '\n';
    return count;
}

static void test_same_version_opens(void **state) {
    (void)state;
    char said[512];
    assert_true(check_in_child("same", said, sizeof said));
    assert_string_equal(said, "");
}

static void test_other_version_stays_shut(void **state) {
    (void)state;
    char said[512];
    assert_false(check_in_child("version", said, sizeof said));
    assert_int_equal(lines(said), 1);
    assert_non_null(strstr(said, "no reports"));
    char expected[64];
    snprintf(expected, sizeof expected, "found version %u", RALLO_DOOR_VERSION + 1);
    assert_non_null(strstr(said, expected));
}

static void test_other_size_stays_shut(void **state) {
    (void)state;
    char said[512];
    assert_false(check_in_child("size", said, sizeof said));
    assert_int_equal(lines(said), 1);
    assert_non_null(strstr(said, "no reports"));
}

int main(void) {
    if (getenv("TEST_DOOR_CASE") != NULL)
        return child_main();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_version_opens),
        cmocka_unit_test(test_other_version_stays_shut),
        cmocka_unit_test(test_other_size_stays_shut),
    };
    return cmocka_run_group_tests_name("door", tests, NULL, NULL);
}
