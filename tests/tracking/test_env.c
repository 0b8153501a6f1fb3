/* test_env.c - the RALLO_* environment, read once at load: a bad value gives
 * one stderr line naming the variable and is ignored, the program runs on; a
 * good value takes effect; in a set-uid process (AT_SECURE) every RALLO_*
 * variable is ignored. Each case runs this same program as a child ("child"
 * mode) with the environment under test, capturing its stdout and stderr. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <rallo.h>

static char self_path[4096];

/* Child mode: allocate a little, then report what rallo took from the
 * environment. */
static int child_main(void) {
    void *volatile p = malloc(1000);
    free(p);
    printf("ok enabled=%d sample=%llu secure=%lu\n", rallo_is_enabled(),
           (unsigned long long)rallo_get_sample_interval(), getauxval(AT_SECURE));
    return 0;
}

typedef struct child_output {
    int status;
    char out[1024], err[4096];
} child_output;

static void read_all(int fd, char *buf, size_t size) {
    size_t used = 0;
    ssize_t n;
    while (used + 1 < size && (n = read(fd, buf + used, size - 1 - used)) > 0)
        used += (size_t)n;
    buf[used] = '\0';
}

/* Runs `program child` with the RALLO_* variables cleared, then `assignment`
 * (NAME=VALUE, or NULL) added. */
static void run_child(const char *program, const char *assignment, const char *assignment2,
                      child_output *result) {
    int out[2], err[2];
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(err), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(err[0]);
        static const char *const vars[] = {"RALLO_ENABLE",     "RALLO_SAMPLE",    "RALLO_DEPTH",
                                           "RALLO_ARENA_SIZE", "RALLO_MAX_SITES", "RALLO_DEPOT_SIZE"};
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
            unsetenv(vars[i]);
        if (assignment != NULL)
            putenv((char *)assignment);
        if (assignment2 != NULL)
            putenv((char *)assignment2);
        execl(program, program, "child", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    read_all(out[0], result->out, sizeof result->out);
    read_all(err[0], result->err, sizeof result->err);
    close(out[0]);
    close(err[0]);
    assert_int_equal(waitpid(pid, &result->status, 0), pid);
}

static int line_count(const char *text) {
    int lines = 0;
    for (; *text != '\0'; text++)
        lines += *text == '\n';
    return lines;
}

static void check_bad_value(const char *assignment, const char *name) {
    child_output result;
    run_child(self_path, assignment, NULL, &result);
    print_message("%s -> stderr: %s", assignment, result.err);
    assert_true(WIFEXITED(result.status));
    assert_int_equal(WEXITSTATUS(result.status), 0);
    assert_non_null(strstr(result.out, "ok enabled=0 sample=0"));
    assert_int_equal(line_count(result.err), 1);
    assert_non_null(strstr(result.err, name));
    assert_true(strncmp(result.err, "rallo: ", 7) == 0);
}

void test_bad_values(void **state);
void test_bad_values(void **state) {
    (void)state;
    check_bad_value("RALLO_SAMPLE=abc", "RALLO_SAMPLE");
    check_bad_value("RALLO_DEPTH=0", "RALLO_DEPTH");
    check_bad_value("RALLO_DEPTH=-3", "RALLO_DEPTH");
    check_bad_value("RALLO_ENABLE=maybe", "RALLO_ENABLE");
    check_bad_value("RALLO_ARENA_SIZE=12x", "RALLO_ARENA_SIZE");
    check_bad_value("RALLO_SAMPLE=99999999999999999999999", "RALLO_SAMPLE");
}

void test_good_values(void **state);
void test_good_values(void **state) {
    (void)state;
    child_output result;
    run_child(self_path, "RALLO_SAMPLE=64k", "RALLO_ENABLE=1", &result);
    assert_true(WIFEXITED(result.status));
    assert_int_equal(WEXITSTATUS(result.status), 0);
    assert_string_equal(result.err, "");
    assert_non_null(strstr(result.out, "ok enabled=1 sample=65536"));
}

/* A copy of this program, set-uid to nobody, run by root: the kernel sets
 * AT_SECURE and rallo must ignore RALLO_*. Skipped when not root or when the
 * file system ignores set-uid bits (then secure_getenv cannot be exercised
 * from outside; _rallo_getenv is secure_getenv, documented to return NULL
 * whenever AT_SECURE is set). */
void test_setuid_ignores_environment(void **state);
void test_setuid_ignores_environment(void **state) {
    (void)state;
    struct passwd *nobody = getpwnam("nobody");
    if (geteuid() != 0 || nobody == NULL) {
        print_message("not root or no user nobody: skipped\n");
        skip();
    }
    char dir[] = "/tmp/rallo-setuid-XXXXXX";
    assert_non_null(mkdtemp(dir));
    chmod(dir, 0755);
    char copy[4200];
    snprintf(copy, sizeof copy, "%s/test_env", dir);
    int in = open(self_path, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_EXCL, 0755);
    assert_true(in >= 0 && out >= 0);
    char buf[1 << 16];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
    assert_int_equal(chown(copy, nobody->pw_uid, nobody->pw_gid), 0);
    assert_int_equal(chmod(copy, 04755), 0);
    child_output result;
    run_child(copy, "RALLO_ENABLE=1", "RALLO_SAMPLE=abc", &result);
    unlink(copy);
    rmdir(dir);
    print_message("set-uid child: status %d, out: %s err: %s\n", result.status, result.out, result.err);
    if (strstr(result.out, "secure=1") == NULL) {
        /* nosuid mount, or the loader could not read librallo as nobody. */
        print_message("set-uid copy did not run with AT_SECURE: skipped\n");
        skip();
    }
    assert_true(WIFEXITED(result.status));
    assert_int_equal(WEXITSTATUS(result.status), 0);
    assert_non_null(strstr(result.out, "ok enabled=0 sample=0 secure=1"));
    assert_string_equal(result.err, ""); /* not even a warning about RALLO_SAMPLE=abc */
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child_main();
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0)
        return 1;
    self_path[n] = '\0';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_good_values),
        cmocka_unit_test(test_setuid_ignores_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
