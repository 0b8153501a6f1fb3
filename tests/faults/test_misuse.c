/* test_misuse.c - the misuse matrix (issue 14.5): each memory error of a buggy
 * host (misuse_target.c) run in a child under bare mimalloc, rallo with
 * tracking off and rallo with tracking on, address-space randomisation off so
 * that each run is the same. Required: rallo-on never gets less far than
 * mimalloc; a misuse rallo-on can see (a pointer in its arena whose header
 * does not validate) is counted once in bad_header and leaves a sound heap.
 *   test_misuse TARGET LIBRALLO LIBMIMALLOC */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char *target, *librallo, *libmimalloc;

typedef enum mode { MODE_MIMALLOC, MODE_OFF, MODE_ON, MODES } mode;

/* How far a run got: 0 crashed in the misuse, 1 after it, 2 after a few more
 * blocks, 3 to the end (the heap checked). */
typedef struct outcome {
    int phase;
    int sound;     /* the heap check passed */
    long long bad; /* rallo's bad_header, -1 without rallo */
    int signal;    /* what ended it, 0 if it exited */
} outcome;

static outcome run(mode m, const char *what, const char *size, const char *offset) {
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        personality(ADDR_NO_RANDOMIZE);
        alarm(60);
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        setenv("LD_PRELOAD", m == MODE_MIMALLOC ? libmimalloc : librallo, 1);
        setenv("RALLO_ENABLE", m == MODE_ON ? "1" : "0", 1);
        unsetenv("RALLO_SAMPLE");
        execl(target, target, what, size, offset, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char text[512] = {0};
    size_t used = 0;
    ssize_t n;
    while (used < sizeof text - 1 && (n = read(out[0], text + used, sizeof text - 1 - used)) > 0)
        used += (size_t)n;
    close(out[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    outcome o = {0, 0, -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0};
    if (strstr(text, "done\n") != NULL)
        o.phase = 1;
    if (strstr(text, "light\n") != NULL)
        o.phase = 2;
    const char *survived = strstr(text, "survived ");
    if (survived != NULL && sscanf(survived, "survived %lld %d", &o.bad, &o.sound) == 2)
        o.phase = 3;
    if (!WIFSIGNALED(status))
        assert_true(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 4);
    return o;
}

typedef struct misuse {
    const char *what, *size, *offset;
    bool seen; /* rallo-on sees it: a pointer in the arena with a bad header */
} misuse;

static const misuse cases[] = {
    {"double_free", "16", "0", true},        {"double_free", "64", "0", true},
    {"double_free", "1000", "0", true},      {"double_free", "100000", "0", true},
    {"interior_free", "64", "8", true},      {"interior_free", "64", "16", true},
    {"interior_free", "64", "32", true},     {"interior_free", "64", "48", true},
    {"interior_free", "64", "1", true},      {"interior_free", "1000", "8", true},
    {"interior_free", "1000", "512", true},  {"interior_free", "40000", "16", true},
    {"interior_free", "300000", "16", true}, {"write_before", "64", "1", true},
    {"write_before", "64", "8", true},       {"write_before", "64", "16", true},
    {"write_before", "1000", "1", true},     {"write_before", "300000", "1", true},
    {"realloc_freed", "64", "0", true},      {"realloc_freed", "1000", "0", true},
    {"free_stack", "64", "0", false},        {"free_static", "64", "0", false},
    {"free_mmap", "64", "0", false},
};
static const char *const past_end_sizes[] = {
    "0",  "1",   "7",   "8",   "15",  "16",  "17",   "24",   "31",   "32",   "33",    "48",   "63",
    "64", "100", "127", "128", "255", "256", "1000", "1024", "4095", "4096", "16384", "65536"};

static int failures;

static void check(const misuse *c) {
    outcome o[MODES];
    for (int m = 0; m < MODES; m++)
        o[m] = run((mode)m, c->what, c->size, c->offset);
    print_message("%-14s size %-6s at %-4s | mimalloc %d sig %-2d | off %d sig %-2d | on %d sig %-2d sound "
                  "%d bad %lld\n",
                  c->what, c->size, c->offset, o[0].phase, o[0].signal, o[1].phase, o[1].signal, o[2].phase,
                  o[2].signal, o[2].sound, o[2].bad);
    const outcome *mi = &o[MODE_MIMALLOC], *on = &o[MODE_ON];
    bool bad = on->phase < mi->phase || (on->phase == 3 && mi->phase == 3 && mi->sound && !on->sound);
    if (c->seen)
        bad = bad || on->phase != 3 || !on->sound || on->bad != 1;
    if (bad) {
        print_message("  FAILED: %s size %s at %s\n", c->what, c->size, c->offset);
        failures++;
    }
}

static void test_misuse_matrix(void **state) {
    (void)state;
    failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check(&cases[i]);
    for (size_t i = 0; i < sizeof past_end_sizes / sizeof past_end_sizes[0]; i++) {
        misuse c = {"past_end", past_end_sizes[i], "0", false};
        check(&c);
    }
    assert_int_equal(failures, 0);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s TARGET LIBRALLO LIBMIMALLOC\n", argv[0]);
        return 2;
    }
    target = argv[1];
    librallo = argv[2];
    libmimalloc = argv[3];
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_misuse_matrix)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
