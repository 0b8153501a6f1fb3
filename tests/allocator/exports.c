/* exports.c - every allocation symbol libmimalloc exports (its mi_* API aside)
 * must be defined by librallo: one left out is a way for a program to reach
 * mimalloc around rallo (MIMALLOC-NOTES.md). The list comes from `nm -D` on the
 * installed libmimalloc, so a future mimalloc with a new export fails here.
 * Run as `exports LIBMIMALLOC LIBRALLO`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_SYMBOLS 4096

static const char *libmimalloc_path;
static const char *librallo_path;

typedef struct symbols {
    char *names[MAX_SYMBOLS];
    size_t count;
} symbols;

/* The dynamic symbols `path` defines (functions and data), read with nm. */
static void symbols_read(const char *path, symbols *out) {
    char command[4096];
    snprintf(command, sizeof command, "nm -D --defined-only '%s'", path);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    char line[1024];
    out->count = 0;
    while (fgets(line, sizeof line, pipe) != NULL) {
        char address[64], type[8], name[900];
        if (sscanf(line, "%63s %7s %899s", address, type, name) != 3)
            continue;
        assert_true(out->count < MAX_SYMBOLS);
        char *at = strchr(name, '@'); /* symbol versions do not matter here */
        if (at != NULL)
            *at = '\0';
        out->names[out->count++] = strdup(name);
    }
    assert_int_equal(pclose(pipe), 0);
}

static bool symbols_has(const symbols *set, const char *name) {
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->names[i], name) == 0)
            return true;
    return false;
}

static void test_rallo_defines_every_mimalloc_allocation_symbol(void **state) {
    (void)state;
    static symbols mimalloc, rallo;
    symbols_read(libmimalloc_path, &mimalloc);
    symbols_read(librallo_path, &rallo);
    /* Sanity: the tool read both (libmimalloc exports ~150 mi_* functions). */
    assert_true(mimalloc.count > 100);
    assert_true(symbols_has(&rallo, "malloc"));
    size_t checked = 0, missing = 0;
    for (size_t i = 0; i < mimalloc.count; i++) {
        const char *name = mimalloc.names[i];
        if (strncmp(name, "mi_", 3) == 0 || strncmp(name, "_mi_", 4) == 0)
            continue; /* mimalloc's own API: not an allocation entry point of the program */
        checked++;
        if (!symbols_has(&rallo, name)) {
            print_error("librallo does not define %s, which libmimalloc exports\n", name);
            missing++;
        }
    }
    /* 16 C++ operators and 30 C names in Debian's 2.0.9; never fewer. */
    assert_true(checked >= 40);
    assert_int_equal(missing, 0);
}

/* librallo exports the public API and no stray internals (tracking's and the
 * allocator's own functions are hidden: a program must not bind to them). */
static void test_rallo_exports_only_its_interface(void **state) {
    (void)state;
    static symbols rallo;
    symbols_read(librallo_path, &rallo);
    assert_true(symbols_has(&rallo, "rallo_enable"));
    assert_true(symbols_has(&rallo, "rallo_get_totals"));
    /* The one exception: the read side librallo-report.so (loaded on demand)
     * uses, marked rallo_report_api in tracking/tracking.h. Exactly these. */
    static const char *const report_api[] = {"_rallo_tracking_set",
                                             "_rallo_parse_size",
                                             "_rallo_parse_bool",
                                             "_rallo_getenv",
                                             "_rallo_warn",
                                             "_rallo_thread",
                                             "_rallo_site_frames",
                                             "_rallo_site_count",
                                             "_rallo_sites_snapshot",
                                             "_rallo_peak_live_bytes",
                                             "_rallo_peak_sites",
                                             "_rallo_signal_take",
                                             "_rallo_stacks_cut_short",
                                             "_rallo_lt_thread_count",
                                             "_rallo_lt_thread_record",
                                             "_rallo_lt_thread_site",
                                             "_rallo_lt_stamp_now",
                                             "_rallo_lt_ns_of_units",
                                             "_rallo_lt_thread_name", "_rallo_census_ages"};
    size_t report_api_seen = 0;
    for (size_t i = 0; i < rallo.count; i++) {
        if (strncmp(rallo.names[i], "_rallo_", 7) != 0)
            continue;
        bool allowed = false;
        for (size_t k = 0; k < sizeof report_api / sizeof report_api[0]; k++)
            allowed |= strcmp(rallo.names[i], report_api[k]) == 0;
        if (!allowed)
            fail_msg("librallo exports its internal symbol %s", rallo.names[i]);
        report_api_seen++;
    }
    assert_int_equal(report_api_seen, sizeof report_api / sizeof report_api[0]);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBMIMALLOC LIBRALLO\n", argv[0]);
        return 2;
    }
    libmimalloc_path = argv[1];
    librallo_path = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rallo_defines_every_mimalloc_allocation_symbol),
        cmocka_unit_test(test_rallo_exports_only_its_interface),
    };
    return cmocka_run_group_tests_name("exports", tests, NULL, NULL);
}
