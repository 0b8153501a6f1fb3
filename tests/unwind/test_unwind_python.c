/* test_unwind_python.c - Debian's python3 (built without frame pointers)
 * runs a script under librallo with tracking on from start-up. Under
 * RALLO_UNWIND=auto and dwarf the stacks of its allocations reach through the
 * interpreter's C frames - the eval loop several levels above the allocator's
 * leaf, and on up to Py_BytesMain - where frame pointers stop within a frame
 * or two. Skipped when python3 is not installed. */
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
} stacks;

/* Runs python3 on the script with `mode` and reads back the sites. */
static stacks run_python(const char *mode) {
    char out_path[] = "/tmp/rallo-unwind-python-XXXXXX";
    int fd = mkstemp(out_path);
    assert_true(fd >= 0);
    close(fd);
    char preload[1024], out_env[128], mode_env[64];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s %s", RALLO_LIB, SITE_DUMP_LIB);
    snprintf(out_env, sizeof out_env, "UNWIND_SITES_OUT=%s", out_path);
    snprintf(mode_env, sizeof mode_env, "RALLO_UNWIND=%s", mode);
    char *env[] = {preload, out_env, mode_env, "RALLO_ENABLE=1", "PYTHONDONTWRITEBYTECODE=1", NULL};
    char *argv[] = {PYTHON, "-c", (char *)script, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, PYTHON, NULL, NULL, argv, env), 0);
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
        int eval_at = -1, main_at = -1;
        for (char *frame = strtok_r(NULL, " \n", &save); frame != NULL;
             frame = strtok_r(NULL, " \n", &save)) {
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
    }
    fclose(in);
    unlink(out_path);
    print_message(
        "  %s: %u sites, deepest %u frames, %u python frames in one stack, %u sites from the eval loop "
        "(3+ above the leaf) to Py_BytesMain\n",
        mode, s.sites, s.deepest, s.most_python_frames, s.deep_eval_sites);
    return s;
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

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(python_stacks)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
