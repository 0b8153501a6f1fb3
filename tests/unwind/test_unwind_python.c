/* test_unwind_python.c - Debian's python3 (built without frame pointers)
 * runs a script under librallo with tracking on from start-up. Under
 * RALLO_UNWIND=auto and dwarf the stacks of its allocations reach through the
 * interpreter's C frames - the eval loop several levels above the allocator's
 * leaf, and on up to Py_BytesMain - where frame pointers stop within a frame
 * or two. With no RALLO_UNWIND set (the default every way rallo is used:
 * preloaded, linked in, over HTTP) the stacks of python3 and of Debian's
 * perl (Perl_safesysmalloc's callers, up through main to libc's start-up)
 * must reach main as well. Skipped when python3 is not installed. */
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define PYTHON "/usr/bin/python3"
#define PERL "/usr/bin/perl"

static const char script[] = "def level_c(n):\n"
                             "    return [('x' * (i % 50)) + str(i) for i in range(n)]\n"
                             "def level_b(n):\n"
                             "    return {i: level_c(n) for i in range(3)}\n"
                             "def level_a(n):\n"
                             "    return [level_b(n) for _ in range(10)]\n"
                             "keep = level_a(500)\n"
                             "print(len(keep))\n";

typedef struct stacks {
    uint32_t sites;
    uint32_t deepest; /* most frames of any site */
    uint32_t
        deep_eval_sites; /* sites with the eval loop 3+ frames above the leaf and Py_BytesMain further up */
    uint32_t most_python_frames; /* most frames of one site in the interpreter binary */
    uint32_t main_sites;         /* sites with `main_symbol` 3+ frames above the leaf */
} stacks;

/* Runs `argv` with `mode` (NULL: RALLO_UNWIND unset) and reads back the
 * sites; main_symbol names the function that main calls. */
static stacks run_program(char *const argv[], const char *mode, const char *main_symbol) {
    char out_path[] = "/tmp/rallo-unwind-python-XXXXXX";
    int fd = mkstemp(out_path);
    assert_true(fd >= 0);
    close(fd);
    char preload[1024], out_env[128], mode_env[64];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s %s", RALLO_LIB, SITE_DUMP_LIB);
    snprintf(out_env, sizeof out_env, "UNWIND_SITES_OUT=%s", out_path);
    snprintf(mode_env, sizeof mode_env, "RALLO_UNWIND=%s", mode != NULL ? mode : "");
    char *env[] = {preload, out_env, "RALLO_ENABLE=1", "PYTHONDONTWRITEBYTECODE=1", mode_env, NULL};
    if (mode == NULL)
        env[4] = NULL;
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], NULL, NULL, argv, env), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    stacks s = {0};
    FILE *in = fopen(out_path, "r");
    assert_non_null(in);
    static char line[1 << 16];
    while (fgets(line, sizeof line, in) != NULL) {
        s.sites++;
        char *save = NULL;
        strtok_r(line, " \n", &save); /* alloc_count */
        strtok_r(NULL, " \n", &save); /* depth */
        uint32_t depth = 0, python_frames = 0;
        int eval_at = -1, main_at = -1, symbol_at = -1;
        for (char *frame = strtok_r(NULL, " \n", &save); frame != NULL;
             frame = strtok_r(NULL, " \n", &save)) {
            if (symbol_at < 0 && strcmp(strchr(frame, ':') + 1, main_symbol) == 0)
                symbol_at = (int)depth;
            if (strncmp(frame, "python3", 7) == 0 || strncmp(frame, "libpython3", 10) == 0) {
                python_frames++;
                const char *symbol = strchr(frame, ':') + 1;
                if (eval_at < 0 && strcmp(symbol, "_PyEval_EvalFrameDefault") == 0)
                    eval_at = (int)depth;
                if (strcmp(symbol, "Py_BytesMain") == 0)
                    main_at = (int)depth;
            }
            depth++;
        }
        if (depth > s.deepest)
            s.deepest = depth;
        if (python_frames > s.most_python_frames)
            s.most_python_frames = python_frames;
        if (eval_at >= 3 && main_at > eval_at)
            s.deep_eval_sites++;
        if (symbol_at >= 3)
            s.main_sites++;
    }
    fclose(in);
    unlink(out_path);
    print_message(
        "  %s: %u sites, deepest %u frames, %u python frames in one stack, %u sites from the eval loop "
        "(3+ above the leaf) to Py_BytesMain, %u through %s\n",
        mode != NULL ? mode : "(default)", s.sites, s.deepest, s.most_python_frames, s.deep_eval_sites,
        s.main_sites, main_symbol);
    return s;
}

static stacks run_python(const char *mode) {
    char *argv[] = {PYTHON, "-c", (char *)script, NULL};
    return run_program(argv, mode, "Py_BytesMain");
}

static void python_stacks(void **state) {
    (void)state;
    if (access(PYTHON, X_OK) != 0)
        skip();
    stacks fp = run_python("fp");
    stacks full = run_python("auto");
    stacks dwarf = run_python("dwarf");
    assert_true(fp.sites > 0);
    /* Frame pointers stop early in a binary built without them. */
    assert_true(fp.deep_eval_sites == 0);
    for (int i = 0; i < 2; i++) {
        const stacks *s = i == 0 ? &full : &dwarf;
        assert_true(s->deepest >= 12);
        assert_true(s->most_python_frames >= 8);
        assert_true(s->deep_eval_sites >= 10);
    }
}

/* No RALLO_UNWIND: python3's and perl's stacks reach main. */
static void default_reaches_main(void **state) {
    (void)state;
    if (access(PYTHON, X_OK) != 0 || access(PERL, X_OK) != 0)
        skip();
    stacks python = run_python(NULL);
    assert_true(python.deep_eval_sites >= 10);
    char *perl_argv[] = {
        PERL, "-e",
        "my %h; for my $i (1..2000) { $h{\"k$i\"} = [ ('x') x ($i % 20) ] } print scalar(keys %h), "
        "\"\\n\";",
        NULL};
    /* libc's start-up frame (the one dladdr names, above main) ends every
     * whole stack of the main thread. */
    stacks perl = run_program(perl_argv, NULL, "__libc_start_main");
    assert_true(perl.sites > 0);
    assert_true(perl.main_sites * 10 >= perl.sites * 9);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(python_stacks),
                                       cmocka_unit_test(default_reaches_main)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
