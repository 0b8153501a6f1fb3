/* test_dump_formats.c - rallo_dump in each format, by name and by extension:
 * the file exists with mode 0600 and parses with an outside tool; the pprof
 * file holds the known 1000 x 1000-byte blocks, read back by go tool pprof. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump_check.h"

static const char *const extensions[] = {"html", "pb.gz", "folded", "txt", "json"};

/* A -raw sample line: "  objects  bytes  objects  bytes: locations". */
static bool raw_has_sample(const char *raw, unsigned long long inuse_objects,
                           unsigned long long inuse_bytes) {
    for (const char *line = raw; line != NULL && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        unsigned long long a, b, c, d;
        if (sscanf(line, " %llu %llu %llu %llu:", &a, &b, &c, &d) == 4 && c == inuse_objects &&
            d == inuse_bytes)
            return true;
    }
    return false;
}

static unsigned long long folded_total(const char *path) {
    FILE *f = fopen(path, "r");
    unsigned long long total = 0;
    char line[65536];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        char *space = strrchr(line, ' ');
        if (space != NULL)
            total += strtoull(space + 1, NULL, 10);
    }
    if (f != NULL)
        fclose(f);
    return total;
}

static void each_format_parses(void **state) {
    (void)state;
    char *dir = make_temp_dir("formats");
    assert_non_null(dir);
    const char *env[] = {"RALLO_ENABLE=1", NULL};
    const char *args[] = {"formats", dir, NULL};
    static target_run run;
    run_target(dir, env, args, &run);
    assert_int_equal(run.exit_code, 0);
    assert_string_equal(run.out, "failures=0\n");
    assert_int_equal(count_rallo_lines(run.err), 0);

    char path[4400];
    for (int f = 0; f < 5; f++) {
        for (int by_ext = 0; by_ext < 2; by_ext++) {
            snprintf(path, sizeof path, "%s/%s.%s", dir, by_ext ? "byext" : "named", extensions[f]);
            if (!file_mode_is(path, 0600))
                fail_msg("%s: missing, not a regular file, or not mode 0600", path);
            if (!check_dump_file(path, dir))
                fail_msg("%s does not parse", path);
        }
    }
    static char raw[16384];
    snprintf(path, sizeof path, "%s/named.pb.gz", dir);
    assert_true(check_pprof(path, dir, raw, sizeof raw));
    if (!raw_has_sample(raw, 1000, 1000000))
        fail_msg("go tool pprof -raw shows no sample of 1000 objects / 1000000 bytes in use:\n%s", raw);
    snprintf(path, sizeof path, "%s/named.folded", dir);
    /* The default metric is live bytes: the known blocks alone are 1,000,000. */
    assert_true(folded_total(path) >= 1000000);
    remove_tree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_format_parses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
