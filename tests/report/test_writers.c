/* test_writers.c - the folded, json and text writers on a profile built by
 * hand: an inlined call expands into one frame per function (json: innermost
 * first; folded: root first), a frame without symbols reads module+0xOFFSET
 * (offset in the module's file), each folded metric picks its own figure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "writers.h"

static void hand_profile(rallo_profile *p) {
    rallo_profile_init(p);
    p->pid = 42;
    p->mappings = rallo_profile_alloc(p, sizeof *p->mappings);
    p->mappings[0] = (rallo_prof_mapping){
        .start = 0x1000, .limit = 0x9000, .file_offset = 0x2000, .path = "/lib/libx.so", .build_id = "abcd"};
    p->nmappings = 1;
    p->locations = rallo_profile_alloc(p, 2 * sizeof *p->locations);
    p->nlocations = 2;
    rallo_prof_line *lines = rallo_profile_alloc(p, 2 * sizeof *lines);
    lines[0] = (rallo_prof_line){"inl<a;b>", "x.c", 7};
    lines[1] = (rallo_prof_line){"outer", "x.c", 20};
    p->locations[0] = (rallo_prof_location){.address = 0x5000, .mapping = 0, .nlines = 2, .lines = lines};
    p->locations[1] = (rallo_prof_location){.address = 0x1010, .mapping = 0};
    p->sites = rallo_profile_alloc(p, sizeof *p->sites);
    p->nsites = 1;
    p->sites[0] = (rallo_prof_site){.alloc_count = 5,
                                    .alloc_bytes = 500,
                                    .free_count = 2,
                                    .free_bytes = 200,
                                    .live_count = 3,
                                    .live_bytes = 300,
                                    .nlocations = 2};
    p->sites[0].locations = rallo_profile_alloc(p, 2 * sizeof(uint32_t));
    p->sites[0].locations[0] = 0;
    p->sites[0].locations[1] = 1;
    p->totals = (rallo_totals){.alloc_count = 5,
                               .alloc_bytes = 500,
                               .free_count = 2,
                               .free_bytes = 200,
                               .live_count = 3,
                               .live_bytes = 300,
                               .peak_live_bytes = 400};
}

static void test_folded(void **state) {
    (void)state;
    rallo_profile p;
    hand_profile(&p);
    static const struct {
        int metric;
        const char *line;
    } want[] = {
        {RALLO_METRIC_LIVE_BYTES, "libx.so+0x2010;outer;inl<a_b> 300\n"},
        {RALLO_METRIC_LIVE_COUNT, "libx.so+0x2010;outer;inl<a_b> 3\n"},
        {RALLO_METRIC_ALLOC_BYTES, "libx.so+0x2010;outer;inl<a_b> 500\n"},
        {RALLO_METRIC_ALLOC_COUNT, "libx.so+0x2010;outer;inl<a_b> 5\n"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        rallo_buf out;
        rallo_buf_init(&out);
        assert_int_equal(rallo_write_folded_metric(&p, &out, want[i].metric), 0);
        assert_string_equal(out.data, want[i].line);
        rallo_buf_free(&out);
    }
    rallo_buf out;
    rallo_buf_init(&out);
    assert_int_equal(rallo_write_profile(&p, RALLO_FORMAT_FOLDED, &out), 0);
    assert_string_equal(out.data, want[0].line);
    rallo_buf_free(&out);
    rallo_profile_free(&p);
}

static void test_json_frames(void **state) {
    (void)state;
    rallo_profile p;
    hand_profile(&p);
    rallo_buf out;
    rallo_buf_init(&out);
    assert_int_equal(rallo_write_json(&p, &out), 0);
    assert_non_null(strstr(out.data,
                           "\"frames\":[{\"addr\":\"0x5000\",\"function\":\"inl<a;b>\",\"file\":\"x.c\","
                           "\"line\":7},{\"addr\":\"0x5000\",\"function\":\"outer\",\"file\":\"x.c\","
                           "\"line\":20},{\"addr\":\"0x1010\",\"function\":\"libx.so+0x2010\","
                           "\"file\":null,\"line\":0}]"));
    assert_non_null(strstr(out.data, "\"live_bytes\":300"));
    assert_non_null(strstr(out.data, "\"peak_live_bytes\":400"));
    rallo_buf_free(&out);
    rallo_profile_free(&p);
}

static void test_text(void **state) {
    (void)state;
    rallo_profile p;
    hand_profile(&p);
    rallo_buf out;
    rallo_buf_init(&out);
    assert_int_equal(rallo_write_text(&p, &out), 0);
    assert_memory_equal(out.data, "rallo text report v1\n", 21);
    assert_non_null(strstr(out.data, "1. 300 B live in 3 objects (100.0%)"));
    assert_non_null(
        strstr(out.data, "inl<a;b> (x.c:7) [inlined]\n        outer (x.c:20)\n        libx.so+0x2010\n"));
    rallo_buf_free(&out);
    rallo_profile_free(&p);
}

static void test_format_names(void **state) {
    (void)state;
    rallo_format f;
    assert_true(rallo_format_from_path("/tmp/a.b/rallo.1.final.pb.gz", &f) && f == RALLO_FORMAT_PPROF);
    assert_true(rallo_format_from_path("x.txt", &f) && f == RALLO_FORMAT_TEXT);
    assert_false(rallo_format_from_path("/tmp/x.json/plain", &f));
    for (int i = 0; i < RALLO_FORMAT_COUNT; i++) {
        assert_true(rallo_format_from_name(rallo_format_name((rallo_format)i), &f));
        assert_int_equal(f, i);
    }
    assert_false(rallo_format_from_name("yaml", &f));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folded),
        cmocka_unit_test(test_json_frames),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_format_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
