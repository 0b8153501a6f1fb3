/* test_html_writer.c - the html writer on profiles built by hand: a small one
 * whose tree and numbers the browser test (browser_test.mjs) knows, with a C++
 * template name, a name with '&' and a name that is an HTML injection, and a
 * 50,000-site one. Checks the escaping here and writes both pages into the
 * directory given as argv[1] for the browser test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "html.h"
#include "writers.h"

static const char *out_dir = ".";

#define TEMPLATE_NAME "std::vector<int, std::allocator<int> >::push_back"
#define AMP_NAME "Table<K, V>::insert(K const&, V&&)"
#define EVIL_NAME "</script><img src=x onerror=\"document.title='pwned'\">&amp;"

static rallo_prof_line *lines(rallo_profile *p, int n) {
    return rallo_profile_alloc(p, (size_t)n * sizeof(rallo_prof_line));
}

static void set_line(rallo_profile *p, rallo_prof_line *l, const char *fn, const char *file, uint32_t line) {
    l->function = rallo_profile_strdup(p, fn);
    l->file = rallo_profile_strdup(p, file);
    l->line = line;
}

/* The known profile (browser_test.mjs holds the same numbers):
 *   all -> demo-app+0x1040 -> main -> process_items -> push_back (inlined)  site A
 *                                   -> Table<K, V>::insert                   site B
 *                                   -> libfoo.so.1+0x2345 (no symbols)       site C
 *                                   -> EVIL_NAME                             site D   */
static void build_known(rallo_profile *p) {
    rallo_profile_init(p);
    p->pid = 4242;
    p->program = rallo_profile_strdup(p, "/opt/demo/bin/demo-app");
    p->time_unix_ns = 1767225600000000000ull; /* 2026-01-01 00:00:00 UTC */
    p->sample_interval = 0;
    p->nmappings = 2;
    p->mappings = rallo_profile_alloc(p, 2 * sizeof *p->mappings);
    p->mappings[0] =
        (rallo_prof_mapping){0x400000, 0x500000, 0, rallo_profile_strdup(p, "/opt/demo/bin/demo-app"), NULL};
    p->mappings[1] =
        (rallo_prof_mapping){0x7f0000000000, 0x7f0000100000, 0x1000,
                             rallo_profile_strdup(p, "/usr/lib/x86_64-linux-gnu/libfoo.so.1"), NULL};
    enum { L_START, L_MAIN, L_PUSH, L_INSERT, L_FOO, L_EVIL, NLOC };
    p->nlocations = NLOC;
    p->locations = rallo_profile_alloc(p, NLOC * sizeof *p->locations);
    rallo_prof_location *loc = p->locations;
    loc[L_START] = (rallo_prof_location){0x401040, 0, 0, NULL};
    loc[L_MAIN] = (rallo_prof_location){0x401200, 0, 1, lines(p, 1)};
    set_line(p, &loc[L_MAIN].lines[0], "main", "/src/demo.cc", 120);
    loc[L_PUSH] = (rallo_prof_location){0x401300, 0, 2, lines(p, 2)};
    set_line(p, &loc[L_PUSH].lines[0], TEMPLATE_NAME, "/usr/include/c++/12/bits/stl_vector.h", 1287);
    set_line(p, &loc[L_PUSH].lines[1], "process_items", "/src/demo.cc", 42);
    loc[L_INSERT] = (rallo_prof_location){0x401400, 0, 1, lines(p, 1)};
    set_line(p, &loc[L_INSERT].lines[0], AMP_NAME, "/src/table.h", 77);
    loc[L_FOO] = (rallo_prof_location){0x7f0000001345, 1, 0, NULL}; /* file offset 0x1345 - 0 + 0x1000 */
    loc[L_EVIL] = (rallo_prof_location){0x401500, 0, 1, lines(p, 1)};
    set_line(p, &loc[L_EVIL].lines[0], EVIL_NAME, "/src/evil\".cc", 9);

    static const struct {
        uint32_t leaf;
        uint64_t alloc_count, alloc_bytes, live_count, live_bytes, peak;
    } sites[] = {
        {L_PUSH, 400, 10000, 10, 6000, 8000},
        {L_INSERT, 50, 30000, 50, 2000, 2000},
        {L_FOO, 25, 1000, 30, 1000, 0},
        {L_EVIL, 25, 9000, 10, 1000, 0},
    };
    p->nsites = 4;
    p->sites = rallo_profile_alloc(p, 4 * sizeof *p->sites);
    for (size_t i = 0; i < 4; i++) {
        rallo_prof_site *s = &p->sites[i];
        s->alloc_count = sites[i].alloc_count;
        s->alloc_bytes = sites[i].alloc_bytes;
        s->live_count = sites[i].live_count;
        s->live_bytes = sites[i].live_bytes;
        s->free_count = s->alloc_count - s->live_count;
        s->free_bytes = s->alloc_bytes - s->live_bytes;
        s->peak_live_bytes = sites[i].peak;
        s->nlocations = 3;
        s->locations = rallo_profile_alloc(p, 3 * sizeof(uint32_t));
        s->locations[0] = sites[i].leaf; /* leaf first */
        s->locations[1] = L_MAIN;
        s->locations[2] = L_START;
        p->totals.alloc_count += s->alloc_count;
        p->totals.alloc_bytes += s->alloc_bytes;
        p->totals.live_count += s->live_count;
        p->totals.live_bytes += s->live_bytes;
        p->totals.free_count += s->free_count;
        p->totals.free_bytes += s->free_bytes;
    }
    p->totals.peak_live_bytes = 10000;
    p->totals.untracked_count = 3;
    p->untracked.alignment = 3;
}

/* 50,000 sites: main -> 40 subsystems -> 400 modules -> 2,000 functions ->
 * leaves, values spread over six orders of magnitude, so most nodes are far
 * under a pixel. Deterministic (a fixed LCG). */
static void build_large(rallo_profile *p, size_t nsites) {
    rallo_profile_init(p);
    p->pid = 777;
    p->program = rallo_profile_strdup(p, "/usr/bin/big-service");
    p->time_unix_ns = 1767225600000000000ull;
    p->sample_interval = 524288;
    enum { NSUB = 40, NMOD = 400, NFUNC = 2000, NLEAF = 5000 };
    size_t nloc = 1 + NSUB + NMOD + NFUNC + NLEAF;
    p->nlocations = nloc;
    p->locations = rallo_profile_alloc(p, nloc * sizeof *p->locations);
    char name[128];
    for (size_t i = 0; i < nloc; i++) {
        rallo_prof_location *l = &p->locations[i];
        l->address = 0x400000 + i * 16;
        l->mapping = RALLO_NO_MAPPING;
        l->nlines = 1;
        l->lines = lines(p, 1);
        if (i == 0)
            snprintf(name, sizeof name, "main");
        else if (i <= NSUB)
            snprintf(name, sizeof name, "subsystem_%zu::run()", i);
        else if (i <= NSUB + NMOD)
            snprintf(name, sizeof name, "module_%zu<std::string>::step()", i);
        else if (i <= NSUB + NMOD + NFUNC)
            snprintf(name, sizeof name, "work_%zu(Ctx&)", i);
        else
            snprintf(name, sizeof name, "alloc_leaf_%zu", i);
        set_line(p, &l->lines[0], name, "/src/big.cc", (uint32_t)i);
    }
    p->nsites = nsites;
    p->sites = rallo_profile_alloc(p, nsites * sizeof *p->sites);
    uint64_t seed = 12345;
    for (size_t i = 0; i < nsites; i++) {
        rallo_prof_site *s = &p->sites[i];
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t r = (uint32_t)(seed >> 33);
        uint32_t sub = 1 + r % NSUB, mod = 1 + NSUB + (r / 7) % NMOD, fn = 1 + NSUB + NMOD + (r / 13) % NFUNC;
        uint32_t leaf = 1 + NSUB + NMOD + NFUNC + (uint32_t)(i % NLEAF);
        s->nlocations = 5;
        s->locations = rallo_profile_alloc(p, 5 * sizeof(uint32_t));
        uint32_t stack[5] = {leaf, fn, mod, sub, 0};
        memcpy(s->locations, stack, sizeof stack);
        uint64_t scale = 1ull << (r % 20);
        s->alloc_count = 1 + r % 1000;
        s->alloc_bytes = s->alloc_count * scale;
        s->live_count = s->alloc_count / 2;
        s->live_bytes = s->live_count * scale;
        s->free_count = s->alloc_count - s->live_count;
        s->free_bytes = s->alloc_bytes - s->live_bytes;
        s->peak_live_bytes = s->live_bytes;
        p->totals.alloc_count += s->alloc_count;
        p->totals.alloc_bytes += s->alloc_bytes;
        p->totals.live_count += s->live_count;
        p->totals.live_bytes += s->live_bytes;
        p->totals.free_count += s->free_count;
        p->totals.free_bytes += s->free_bytes;
    }
    p->totals.peak_live_bytes = p->totals.live_bytes;
}

static size_t count_of(const char *text, const char *needle) {
    size_t n = 0;
    for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle))
        n++;
    return n;
}

static char *write_page(const rallo_profile *p, const char *file) {
    rallo_buf buf;
    rallo_buf_init(&buf);
    assert_int_equal(rallo_write_html(p, &buf), 0);
    assert_false(buf.failed);
    rallo_buf_putc(&buf, '\0');
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, file);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(buf.data, 1, buf.len - 1, f), buf.len - 1);
    assert_int_equal(fclose(f), 0);
    char *copy = strdup(buf.data);
    rallo_buf_free(&buf);
    return copy;
}

static void test_known_page_escapes_names(void **state) {
    (void)state;
    rallo_profile p;
    build_known(&p);
    char *page = write_page(&p, "known.html");
    assert_true(strncmp(page, "<!DOCTYPE html>", 15) == 0);
    /* Three script elements end: the assets, the data, the page script. The
     * injected name must not end the data element or add an element. */
    assert_int_equal(count_of(page, "</script>"), 3);
    assert_null(strstr(page, "<img"));
    assert_non_null(
        strstr(page, "std::vector\\u003cint, std::allocator\\u003cint\\u003e \\u003e::push_back"));
    assert_non_null(strstr(page, "Table\\u003cK, V\\u003e::insert(K const\\u0026, V\\u0026\\u0026)"));
    assert_non_null(
        strstr(page, "\\u003c/script\\u003e\\u003cimg src=x onerror=\\\"document.title='pwned'\\\""));
    assert_non_null(strstr(page, "\"libfoo.so.1+0x2345\""));
    assert_non_null(strstr(page, "\"demo-app+0x1040\""));
    /* Nothing refers to the network. */
    assert_null(strstr(page, "http://"));
    assert_null(strstr(page, "https://"));
    assert_non_null(strstr(page, "<title>rallo: demo-app (pid 4242)</title>"));
    free(page);
    rallo_profile_free(&p);
}

static void test_tree_json_merges_by_function(void **state) {
    (void)state;
    rallo_profile p;
    build_known(&p);
    rallo_buf buf;
    rallo_buf_init(&buf);
    rallo_html_tree_json(&p, &buf);
    rallo_buf_putc(&buf, '\0');
    assert_false(buf.failed);
    /* all, demo-app+0x1040, main, process_items, push_back, insert, libfoo, evil */
    assert_non_null(strstr(buf.data, "\"parent\":[-1,0,1,2,3,2,2,2]"));
    assert_non_null(strstr(buf.data, "\"flags\":[0,4,0,0,2,0,4,0]"));
    assert_non_null(strstr(buf.data, "\"live_bytes\":[6000,2000,1000,1000]"));
    rallo_buf_free(&buf);
    rallo_profile_free(&p);
}

static void test_large_page(void **state) {
    (void)state;
    rallo_profile p;
    build_large(&p, 50000);
    char *page = write_page(&p, "large.html");
    assert_int_equal(count_of(page, "</script>"), 3);
    printf("large.html: %zu bytes for 50,000 sites\n", strlen(page));
    free(page);
    rallo_profile_free(&p);
}

static void test_empty_profile(void **state) {
    (void)state;
    rallo_profile p;
    rallo_profile_init(&p);
    char *page = write_page(&p, "empty.html");
    assert_non_null(strstr(page, "\"parent\":[-1]"));
    assert_non_null(strstr(page, "<title>rallo: process (pid 0)</title>"));
    free(page);
    rallo_profile_free(&p);
}

int main(int argc, char **argv) {
    if (argc > 1)
        out_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_page_escapes_names),
        cmocka_unit_test(test_tree_json_merges_by_function),
        cmocka_unit_test(test_large_page),
        cmocka_unit_test(test_empty_profile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
