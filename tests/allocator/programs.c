/* programs.c - real programs give the same output with librallo preloaded as
 * without it, with tracking off and with tracking on from start-up
 * (RALLO_ENABLE=1): python3, perl, sort, git (through sh, which is preloaded
 * too) and our own C++ program that uses every new/delete form. stdout,
 * stderr and the exit status must all match the run without rallo.
 * Run as `programs LIBRALLO CXX_PROGRAM SOURCE_DIR`. */
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

static const char *librallo;
static const char *cxx_program;
static const char *source_dir;
static char work_dir[] = "/tmp/rallo-programs-XXXXXX";

typedef struct run {
    char *out, *err;
    size_t out_len, err_len;
    int status;
} run;

static char *slurp(const char *path, size_t *length) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    *length = (size_t)size;
    return text;
}

/* Runs `command` through sh with the given environment prefix. */
static void run_command(const char *env, const char *command, run *out) {
    char line[8192], out_path[256], err_path[256];
    snprintf(out_path, sizeof out_path, "%s/stdout", work_dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", work_dir);
    snprintf(line, sizeof line, "cd '%s' && env %s sh -c '%s' >'%s' 2>'%s'", work_dir, env, command, out_path,
             err_path);
    out->status = system(line);
    out->out = slurp(out_path, &out->out_len);
    out->err = slurp(err_path, &out->err_len);
}

static void run_free(run *r) {
    free(r->out);
    free(r->err);
}

/* The command's output without rallo, preloaded, and preloaded with tracking on. */
static void expect_same_output(const char *command) {
    char preload[4096], tracked[4096];
    snprintf(preload, sizeof preload, "LD_PRELOAD='%s'", librallo);
    snprintf(tracked, sizeof tracked, "LD_PRELOAD='%s' RALLO_ENABLE=1", librallo);
    run plain, with;
    run_command("-u LD_PRELOAD", command, &plain);
    if (!WIFEXITED(plain.status) || WEXITSTATUS(plain.status) != 0)
        fail_msg("`%s` failed without rallo (status %d): %s", command, plain.status, plain.err);
    assert_true(plain.out_len > 0);
    const char *envs[] = {preload, tracked};
    for (int i = 0; i < 2; i++) {
        run_command(envs[i], command, &with);
        if (with.status != plain.status)
            fail_msg("`%s` with %s: status %d, without rallo %d; stderr: %s", command, envs[i], with.status,
                     plain.status, with.err);
        if (with.out_len != plain.out_len || memcmp(with.out, plain.out, plain.out_len) != 0)
            fail_msg("`%s` with %s: stdout differs (%zu bytes vs %zu)", command, envs[i], with.out_len,
                     plain.out_len);
        if (with.err_len != plain.err_len || memcmp(with.err, plain.err, plain.err_len) != 0)
            fail_msg("`%s` with %s: stderr differs: %s", command, envs[i], with.err);
        run_free(&with);
    }
    run_free(&plain);
}

static void test_preload_takes_effect(void **state) {
    (void)state;
    /* The preloaded shell maps librallo: the other tests do compare with rallo in. */
    char env[4096];
    snprintf(env, sizeof env, "LD_PRELOAD='%s'", librallo);
    run r;
    run_command(env, "grep -c librallo /proc/self/maps", &r);
    assert_true(atoi(r.out) > 0);
    run_free(&r);
}

static void test_python3(void **state) {
    (void)state;
    char command[4096];
    snprintf(command, sizeof command, "PYTHONHASHSEED=0 /usr/bin/python3 -I %s/programs.py", source_dir);
    expect_same_output(command);
}

static void test_perl(void **state) {
    (void)state;
    char command[4096];
    snprintf(command, sizeof command, "perl %s/programs.pl", source_dir);
    expect_same_output(command);
}

static void test_sort(void **state) {
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/unsorted.txt", work_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    uint64_t x = 88172645463325252ull; /* xorshift: the same file every run */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        fprintf(f, "%08llx %llu word%llu\n", (unsigned long long)(x & 0xffffffff),
                (unsigned long long)(x % 100000), (unsigned long long)(x % 977));
    }
    fclose(f);
    expect_same_output(
        "LC_ALL=C sort unsorted.txt | md5sum; LC_ALL=C sort -n -k2 -s unsorted.txt | tail -c 100000; "
        "LC_ALL=C sort -u -k3,3 unsorted.txt | wc -l");
}

static void test_git(void **state) {
    (void)state;
    char command[4096];
    snprintf(command, sizeof command, "sh %s/programs-git.sh", source_dir);
    expect_same_output(command);
}

static void test_cxx_program(void **state) {
    (void)state;
    expect_same_output(cxx_program);
}

static int make_work_dir(void **state) {
    (void)state;
    return mkdtemp(work_dir) != NULL ? 0 : -1;
}

static int remove_work_dir(void **state) {
    (void)state;
    char command[512];
    snprintf(command, sizeof command, "rm -rf '%s'", work_dir);
    return system(command);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s LIBRALLO CXX_PROGRAM SOURCE_DIR\n", argv[0]);
        return 2;
    }
    librallo = argv[1];
    cxx_program = argv[2];
    source_dir = argv[3];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preload_takes_effect),
        cmocka_unit_test(test_python3),
        cmocka_unit_test(test_perl),
        cmocka_unit_test(test_sort),
        cmocka_unit_test(test_git),
        cmocka_unit_test(test_cxx_program),
    };
    return cmocka_run_group_tests_name("real programs under LD_PRELOAD", tests, make_work_dir,
                                       remove_work_dir);
}
