/* test_dump_per_connection.c - exit dumps in a process-per-connection server:
 * per_connection_target forks 8 short-lived children under RALLO_DUMP_ON_EXIT=1
 * and reaps them with waitpid(-1). Every child leaves its exit dump, which
 * holds exactly the blocks it allocated (child i: i + 1 blocks of 1000 + i
 * bytes at connection_work, read from the JSON by python3); the parent reaps
 * only the children it forked (the helper that writes the formats is never
 * its child); and no child had libdw, libdebuginfod, a network or TLS library
 * or the HTTP server mapped after its dump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump_check.h"

#define CHILDREN 8

static target_run run;

/* Child i's dump: one site at connection_work with its known blocks. */
static bool dump_holds(const char *dir, long pid, int i) {
    char command[5000];
    snprintf(command, sizeof command,
             "python3 -c 'import json,sys\n"
             "d = json.load(open(sys.argv[1]))\n"
             "s = [x for x in d[\"sites\"] if any(f.get(\"function\") == \"connection_work\" for f in "
             "x[\"frames\"])]\n"
             "ok = len(s) == 1 and s[0][\"live_count\"] == %d and s[0][\"live_bytes\"] == %d\n"
             "sys.exit(0 if ok else 1)' '%s/rallo.%ld.final.json'",
             i + 1, (i + 1) * (1000 + i), dir, pid);
    return system(command) == 0;
}

static void every_child_dumps_its_own_blocks(void **state) {
    (void)state;
    char *dir = make_temp_dir("per-connection");
    char dir_var[4200], count[16];
    snprintf(dir_var, sizeof dir_var, "RALLO_DUMP_DIR=%s", dir);
    snprintf(count, sizeof count, "%d", CHILDREN);
    /* DEBUGINFOD_URLS: what pulled curl and TLS into servers through libdw. */
    const char *env[] = {"RALLO_ENABLE=1",
                         "RALLO_DUMP_ON_EXIT=1",
                         "RALLO_DUMP_FORMATS=json,pprof",
                         "DEBUGINFOD_URLS=http://127.0.0.1:9/",
                         dir_var,
                         NULL};
    const char *args[] = {count, dir, NULL};
    run_target(dir, env, args, &run); /* also waits for the helpers */
    assert_int_equal(run.exit_code, 0);
    char expected[64];
    snprintf(expected, sizeof expected, "children=%d unknown=0 failed=0\n", CHILDREN);
    if (strstr(run.out, expected) == NULL)
        fail_msg("expected \"%s\"; stdout was:\n%s", expected, run.out);
    assert_int_equal(count_rallo_lines(run.err), 0);
    for (int i = 0; i < CHILDREN; i++) {
        char key[32], path[4400], maps[256] = "";
        snprintf(key, sizeof key, "child %d ", i);
        const char *line = strstr(run.out, key);
        assert_non_null(line);
        long pid = strtol(line + strlen(key), NULL, 10);
        snprintf(path, sizeof path, "%s/rallo.%ld.final.json", dir, pid);
        if (!check_dump_file(path, dir))
            fail_msg("child %d (pid %ld): no complete exit dump %s", i, pid, path);
        if (!dump_holds(dir, pid, i))
            fail_msg("child %d (pid %ld): %s does not hold %d blocks of %d bytes at connection_work", i, pid,
                     path, i + 1, 1000 + i);
        snprintf(path, sizeof path, "%s/rallo.%ld.final.pb.gz", dir, pid);
        if (!file_mode_is(path, 0600))
            fail_msg("child %d (pid %ld): no pprof exit dump", i, pid);
        snprintf(path, sizeof path, "%s/maps.%ld", dir, pid);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        if (fgets(maps, sizeof maps, f) == NULL)
            maps[0] = '\0';
        fclose(f);
        if (strcmp(maps, "clean\n") != 0)
            fail_msg("child %d (pid %ld) had mapped after its dump: %s", i, pid, maps);
    }
    remove_tree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_child_dumps_its_own_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
