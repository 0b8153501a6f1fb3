/* test_pprof.c - the pprof writer and reader against ground truth: a profile
 * built by hand (known sites, inlined lines, an unsymbolized frame, a C++
 * template name) is written, then read back by real consumers (`go tool
 * pprof -raw` and `-top -sample_index=...`, the npm package pprof-format) and
 * by rallo_read_pprof(); malformed inputs must get a clean error
 * (pprof_malformed.c).
 * Usage: test_pprof [FILTER | --skip FILTER], FILTER a test-name glob;
 *        test_pprof --seeds DIR writes the fuzzer's seed corpus. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_pprof.h"

static const char *const TEMPLATE_NAME = "std::vector<int, std::allocator<int> >::push_back(int const&)";

/* ---- the known profile ---- */

static void add_location(rallo_profile *p, size_t i, uint64_t address, uint32_t mapping, uint32_t nlines,
                         const rallo_prof_line *lines) {
    rallo_prof_location *loc = &p->locations[i];
    loc->address = address;
    loc->mapping = mapping;
    loc->nlines = nlines;
    loc->lines = nlines ? rallo_profile_alloc(p, nlines * sizeof *lines) : NULL;
    for (uint32_t l = 0; l < nlines; l++) {
        loc->lines[l].function = rallo_profile_strdup(p, lines[l].function);
        loc->lines[l].file = rallo_profile_strdup(p, lines[l].file);
        loc->lines[l].line = lines[l].line;
    }
}

static void add_site(rallo_profile *p, size_t i, uint64_t alloc_count, uint64_t alloc_bytes,
                     uint64_t live_count, uint64_t live_bytes, uint64_t peak, uint32_t nlocations,
                     const uint32_t *locations) {
    rallo_prof_site *s = &p->sites[i];
    s->alloc_count = alloc_count;
    s->alloc_bytes = alloc_bytes;
    s->live_count = live_count;
    s->live_bytes = live_bytes;
    s->free_count = alloc_count - live_count;
    s->free_bytes = alloc_bytes - live_bytes;
    s->peak_live_bytes = peak;
    s->nlocations = nlocations;
    s->locations = rallo_profile_alloc(p, nlocations * sizeof *s->locations);
    memcpy(s->locations, locations, nlocations * sizeof *locations);
}

/* Site A: inlined_helper inlined into alloc_site_a, called from main.
 * Site B: a C++ template method, called from main.
 * Site C: an unsymbolized frame in libfoo, from alloc_site_b, from main;
 * everything it allocated was freed. */
void build_known(rallo_profile *p) {
    rallo_profile_init(p);
    p->pid = 4242;
    p->time_unix_ns = 1700000000123456789ull;
    p->sample_interval = 524288;
    p->program = rallo_profile_strdup(p, "/usr/bin/knownsites");
    p->nmappings = 2;
    p->mappings = rallo_profile_alloc(p, 2 * sizeof *p->mappings);
    p->mappings[0] =
        (rallo_prof_mapping){0x400000, 0x500000, 0, rallo_profile_strdup(p, "/usr/bin/knownsites"),
                             rallo_profile_strdup(p, "0123456789abcdef0123456789abcdef01234567")};
    p->mappings[1] = (rallo_prof_mapping){0x7f0000000000, 0x7f0000100000, 0x1000,
                                          rallo_profile_strdup(p, "/usr/lib/libfoo.so.1"), NULL};
    p->nlocations = 5;
    p->locations = rallo_profile_alloc(p, 5 * sizeof *p->locations);
    add_location(p, 0, 0x401010, 0, 2,
                 (rallo_prof_line[]){{"inlined_helper", "src/a.c", 12}, {"alloc_site_a", "src/a.c", 40}});
    add_location(p, 1, 0x402010, 0, 1,
                 (rallo_prof_line[]){{TEMPLATE_NAME, "/usr/include/c++/12/bits/stl_vector.h", 1287}});
    add_location(p, 2, 0x7f0000001234, 1, 0, NULL);
    add_location(p, 3, 0x401200, 0, 1, (rallo_prof_line[]){{"alloc_site_b", "src/b.c", 7}});
    add_location(p, 4, 0x401500, 0, 1, (rallo_prof_line[]){{"main", "src/main.c", 100}});
    p->nsites = 3;
    p->sites = rallo_profile_alloc(p, 3 * sizeof *p->sites);
    add_site(p, 0, 10, 10240, 4, 4096, 8192, 2, (uint32_t[]){0, 4});
    add_site(p, 1, 3, 300, 3, 300, 300, 2, (uint32_t[]){1, 4});
    add_site(p, 2, 7, 70000, 0, 0, 0, 3, (uint32_t[]){2, 3, 4});
    p->totals = (rallo_totals){20, 80540, 13, 76144, 7, 4396, 9000, 5};
    p->untracked.arena_full = 2;
    p->untracked.alignment = 3;
}

void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    build_known(&fx->profile);
    rallo_buf_init(&fx->heap);
    rallo_buf_init(&fx->allocs);
    if (rallo_write_pprof(&fx->profile, &fx->heap) != 0 ||
        rallo_write_pprof_view(&fx->profile, &fx->allocs, RALLO_PPROF_VIEW_ALLOCS) != 0)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/rallo-pprof-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->heap_path, sizeof fx->heap_path, "%s/heap.pb.gz", fx->dir);
    snprintf(fx->allocs_path, sizeof fx->allocs_path, "%s/allocs.pb.gz", fx->dir);
    write_file(fx->heap_path, fx->heap.data, fx->heap.len);
    write_file(fx->allocs_path, fx->allocs.data, fx->allocs.len);
    /* go keeps its cache under HOME; nothing may touch the user's. */
    char env[128];
    snprintf(env, sizeof env, "%s/gocache", fx->dir);
    setenv("GOCACHE", env, 1);
    setenv("HOME", fx->dir, 1);
    setenv("GOTOOLCHAIN", "local", 1);
    setenv("GOPROXY", "off", 1);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        return -1;
    rallo_buf_free(&fx->heap);
    rallo_buf_free(&fx->allocs);
    rallo_profile_free(&fx->profile);
    free(fx);
    return 0;
}

/* Runs a shell command; its stdout (malloc'd) or fails the test. */
static char *run(const char *fmt, ...) {
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap)
            text = realloc(text, cap *= 2);
    }
    text[len] = '\0';
    int status = pclose(f);
    if (status != 0)
        fail_msg("`%s` exited with %d; output:\n%s", cmd, status, text);
    return text;
}

/* ---- go tool pprof ---- */

static void consumer_go_raw(void **state) {
    fixture *fx = *state;
    char *raw = run("go tool pprof -raw -symbolize=none '%s' 2>&1", fx->heap_path);
    /* Each sample's four values, in the order written, and its stack (pprof
     * numbers locations by first use: main is 2, the libfoo frame 4). */
    const char *expect_samples[] = {"10      10240          4       4096: 1 2 \n",
                                    "3        300          3        300: 3 2 \n",
                                    "7      70000          0          0: 4 5 2 \n"};
    for (size_t i = 0; i < 3; i++)
        if (strstr(raw, expect_samples[i]) == NULL)
            fail_msg("sample %zu (%s) not in:\n%s", i, expect_samples[i], raw);
    assert_non_null(
        strstr(raw, "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes[dflt]"));
    assert_non_null(strstr(raw, "PeriodType: space bytes\nPeriod: 524288\n"));
    assert_non_null(strstr(raw, "peak_live_bytes:[8192 bytes]"));
    /* Inlined lines: innermost first, then the function they were inlined in. */
    assert_non_null(
        strstr(raw, "1: 0x401010 M=1 inlined_helper src/a.c:12 s=0\n             alloc_site_a src/a.c:40"));
    assert_non_null(strstr(raw, TEMPLATE_NAME));
    assert_non_null(strstr(raw, "4: 0x7f0000001234 M=2 \n")); /* unsymbolized: address + mapping */
    assert_non_null(strstr(raw, "1: 0x400000/0x500000/0x0 /usr/bin/knownsites "
                                "0123456789abcdef0123456789abcdef01234567 [FN][FL][LN][IN]"));
    assert_non_null(strstr(raw, "2: 0x7f0000000000/0x7f0000100000/0x1000 /usr/lib/libfoo.so.1"));
    assert_non_null(strstr(raw, "Comment: rallo.totals alloc_count=20 alloc_bytes=80540 free_count=13 "
                                "free_bytes=76144 live_count=7 live_bytes=4396 peak_live_bytes=9000"));
    assert_non_null(strstr(raw, "Comment: rallo.pid=4242"));
    free(raw);
    /* The allocs view: same data, alloc_space the default. */
    raw = run("go tool pprof -raw -symbolize=none '%s' 2>&1", fx->allocs_path);
    assert_non_null(strstr(raw, "alloc_space/bytes[dflt]"));
    free(raw);
}

/* The flat value `go tool pprof -top` shows for a function name, or -1. */
static long long top_flat(const char *top, const char *name) {
    for (const char *line = top; line != NULL && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char flat[32], f1[16], f2[16], cum[32], f3[16];
        int used = 0;
        if (sscanf(line, "%31s %15s %15s %31s %15s %n", flat, f1, f2, cum, f3, &used) != 5 || used == 0)
            continue;
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) - (size_t)used : strlen(line + used);
        if (len == strlen(name) && strncmp(line + used, name, len) == 0)
            return strtoll(flat, NULL, 10);
    }
    return -1;
}

static void consumer_go_top(void **state) {
    fixture *fx = *state;
    static const struct {
        const char *index;
        long long total, a, b, c; /* flat of site A's, B's and C's leaf */
    } cases[] = {{"alloc_objects", 20, 10, 3, 7},
                 {"alloc_space", 80540, 10240, 300, 70000},
                 {"inuse_objects", 7, 4, 3, 0},
                 {"inuse_space", 4396, 4096, 300, 0}};
    for (size_t i = 0; i < 4; i++) {
        char *top = run("go tool pprof -top -nodefraction=0 -symbolize=none %s -sample_index=%s '%s' 2>&1",
                        strstr(cases[i].index, "space") ? "-unit=B" : "", cases[i].index, fx->heap_path);
        char total[96];
        snprintf(total, sizeof total, "of %lld%s total", cases[i].total,
                 strstr(cases[i].index, "space") ? "B" : "");
        if (strstr(top, total) == NULL)
            fail_msg("%s: want '%s' in:\n%s", cases[i].index, total, top);
        if (top_flat(top, "inlined_helper (inline)") != cases[i].a ||
            top_flat(top, TEMPLATE_NAME) != cases[i].b)
            fail_msg("%s: want flat %lld for inlined_helper, %lld for push_back in:\n%s", cases[i].index,
                     cases[i].a, cases[i].b, top);
        assert_int_equal(top_flat(top, "inlined_helper (inline)"), cases[i].a);
        assert_int_equal(top_flat(top, TEMPLATE_NAME), cases[i].b);
        /* pprof names an unsymbolized frame by its module; a zero flat row
         * may be left out. */
        long long c = top_flat(top, "[libfoo.so.1]");
        assert_int_equal(c < 0 ? 0 : c, cases[i].c);
        assert_int_equal(top_flat(top, "main"), 0);
        free(top);
    }
}

/* ---- pprof-format (npm) ---- */

static void append(char **text, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char piece[1024];
    int n = vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    *text = realloc(*text, *len + (size_t)n + 1);
    memcpy(*text + *len, piece, (size_t)n + 1);
    *len += (size_t)n;
}

/* What decode.js must print for the known profile. */
static char *expected_decode(const rallo_profile *p, const char *default_type) {
    char *t = NULL;
    size_t len = 0;
    append(&t, &len, "types alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes\n");
    append(&t, &len, "default %s\nperiod space/bytes %" PRIu64 "\ntime %" PRIu64 "\n", default_type,
           p->sample_interval, p->time_unix_ns);
    append(&t, &len,
           "mapping 1 /usr/bin/knownsites 0123456789abcdef0123456789abcdef01234567 0x400000 fn=1 inline=1\n");
    append(&t, &len, "mapping 2 /usr/lib/libfoo.so.1  0x7f0000000000 fn=0 inline=0\n");
    for (size_t i = 0; i < p->nsites; i++) {
        const rallo_prof_site *s = &p->sites[i];
        append(&t, &len, "sample %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " |", s->alloc_count,
               s->alloc_bytes, s->live_count, s->live_bytes);
        for (uint32_t l = 0; l < s->nlocations; l++) {
            const rallo_prof_location *loc = &p->locations[s->locations[l]];
            append(&t, &len, "%s", l ? " ; " : " ");
            if (loc->nlines == 0)
                append(&t, &len, "0x%" PRIx64, loc->address);
            for (uint32_t k = 0; k < loc->nlines; k++)
                append(&t, &len, "%s%s@%s:%u", k ? "+" : "", loc->lines[k].function, loc->lines[k].file,
                       loc->lines[k].line);
        }
        append(&t, &len, "\n");
    }
    return t;
}

static void consumer_pprof_format(void **state) {
    fixture *fx = *state;
    const char *views[2][2] = {{fx->heap_path, "inuse_space"}, {fx->allocs_path, "alloc_space"}};
    for (int v = 0; v < 2; v++) {
        char *got = run("node '%s/decode.js' '%s'", RALLO_PPROF_TEST_DIR, views[v][0]);
        char *want = expected_decode(&fx->profile, views[v][1]);
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
}

/* ---- round trip through rallo_read_pprof ---- */

static void assert_same_profile(const rallo_profile *a, const rallo_profile *b) {
    assert_int_equal(a->pid, b->pid);
    assert_int_equal(a->time_unix_ns, b->time_unix_ns);
    assert_int_equal(a->sample_interval, b->sample_interval);
    assert_string_equal(a->program, b->program);
    assert_memory_equal(&a->totals, &b->totals, sizeof a->totals);
    assert_memory_equal(&a->untracked, &b->untracked, sizeof a->untracked);
    assert_int_equal(a->nmappings, b->nmappings);
    for (size_t i = 0; i < a->nmappings; i++) {
        assert_int_equal(a->mappings[i].start, b->mappings[i].start);
        assert_int_equal(a->mappings[i].limit, b->mappings[i].limit);
        assert_int_equal(a->mappings[i].file_offset, b->mappings[i].file_offset);
        assert_string_equal(a->mappings[i].path, b->mappings[i].path);
        if (a->mappings[i].build_id == NULL)
            assert_null(b->mappings[i].build_id);
        else
            assert_string_equal(a->mappings[i].build_id, b->mappings[i].build_id);
    }
    assert_int_equal(a->nlocations, b->nlocations);
    for (size_t i = 0; i < a->nlocations; i++) {
        assert_int_equal(a->locations[i].address, b->locations[i].address);
        assert_int_equal(a->locations[i].mapping, b->locations[i].mapping);
        assert_int_equal(a->locations[i].nlines, b->locations[i].nlines);
        for (uint32_t l = 0; l < a->locations[i].nlines; l++) {
            assert_string_equal(a->locations[i].lines[l].function, b->locations[i].lines[l].function);
            assert_string_equal(a->locations[i].lines[l].file, b->locations[i].lines[l].file);
            assert_int_equal(a->locations[i].lines[l].line, b->locations[i].lines[l].line);
        }
    }
    assert_int_equal(a->nsites, b->nsites);
    for (size_t i = 0; i < a->nsites; i++) {
        const rallo_prof_site *x = &a->sites[i], *y = &b->sites[i];
        assert_int_equal(x->alloc_count, y->alloc_count);
        assert_int_equal(x->alloc_bytes, y->alloc_bytes);
        assert_int_equal(x->free_count, y->free_count);
        assert_int_equal(x->free_bytes, y->free_bytes);
        assert_int_equal(x->live_count, y->live_count);
        assert_int_equal(x->live_bytes, y->live_bytes);
        assert_int_equal(x->peak_live_bytes, y->peak_live_bytes);
        assert_int_equal(x->nlocations, y->nlocations);
        assert_memory_equal(x->locations, y->locations, x->nlocations * sizeof *x->locations);
    }
}

static void round_trip(void **state) {
    fixture *fx = *state;
    rallo_buf *views[2] = {&fx->heap, &fx->allocs};
    for (int v = 0; v < 2; v++) {
        rallo_profile back;
        char error[256];
        assert_int_equal(rallo_read_pprof(views[v]->data, views[v]->len, &back, error, sizeof error), 0);
        assert_string_equal(error, "");
        assert_same_profile(&fx->profile, &back);
        rallo_profile_free(&back);
    }
}

static void every_allocation_period(void **state) {
    (void)state;
    rallo_profile p;
    build_known(&p);
    p.sample_interval = 0;
    rallo_buf buf;
    rallo_buf_init(&buf);
    assert_int_equal(rallo_write_pprof(&p, &buf), 0);
    rallo_profile back;
    char error[256];
    assert_int_equal(rallo_read_pprof(buf.data, buf.len, &back, error, sizeof error), 0);
    assert_int_equal(back.sample_interval, 0);
    rallo_profile_free(&back);
    rallo_buf_free(&buf);
    rallo_profile_free(&p);
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--seeds") == 0)
        return write_seeds(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),          cmocka_unit_test(every_allocation_period),
        cmocka_unit_test(malformed_truncated), cmocka_unit_test(malformed_bit_flips),
        cmocka_unit_test(wrong_ids_and_types), cmocka_unit_test(wrong_wire_and_huge_lengths),
        cmocka_unit_test(decompression_bomb),  cmocka_unit_test(consumer_go_raw),
        cmocka_unit_test(consumer_go_top),     cmocka_unit_test(consumer_pprof_format),
    };
    if (argc > 2 && strcmp(argv[1], "--skip") == 0)
        cmocka_set_skip_filter(argv[2]);
    else if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, setup, teardown);
}
