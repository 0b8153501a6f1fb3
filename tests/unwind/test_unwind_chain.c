/* test_unwind_chain.c - a call chain six deep into malloc, alternating between
 * this program and chain_lib, all built without frame pointers (the library
 * with them in the _fplib variant). Under RALLO_UNWIND=dwarf and auto the
 * recorded stack names all six levels, leaf first, in order; under fp the
 * stack is short (it cannot pass a frame without a frame pointer) and
 * nothing crashes. The mode comes from the environment ctest sets. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rallo.h"

void *lib_level2(size_t size);
void *lib_level4(size_t size);
void *lib_level6(size_t size);

volatile int chain_prog_sink;

__attribute__((noinline)) void *prog_level5(size_t size) {
    volatile char pad[24];
    pad[0] = 5;
    void *p = lib_level6(size);
    chain_prog_sink = pad[0];
    return p;
}
__attribute__((noinline)) void *prog_level3(size_t size) {
    void *p = lib_level4(size);
    chain_prog_sink = 3;
    return p;
}
__attribute__((noinline)) void *prog_level1(size_t size) {
    volatile char pad[200];
    pad[0] = 1;
    void *p = lib_level2(size);
    chain_prog_sink = pad[0];
    return p;
}

static const char *const chain_names[6] = {"lib_level6",  "prog_level5", "lib_level4",
                                           "prog_level3", "lib_level2",  "prog_level1"};

typedef struct site_search {
    uint64_t size;
    const char *names[64];
    uint32_t depth;
    int found;
} site_search;

/* Bytes each site had counted before the allocation: the site that grew by
 * exactly its size is the one it went to. */
#define MAX_SITES 65536
static uint64_t bytes_before[MAX_SITES];

static int note_bytes(const rallo_site *site, void *arg) {
    (void)arg;
    if (site->site_id < MAX_SITES)
        bytes_before[site->site_id] = site->alloc_bytes;
    return 0;
}

static int find_site(const rallo_site *site, void *arg) {
    site_search *search = arg;
    if (site->site_id >= MAX_SITES || site->alloc_bytes - bytes_before[site->site_id] != search->size)
        return 0;
    search->found++;
    search->depth = site->depth < 64 ? site->depth : 64;
    for (uint32_t i = 0; i < search->depth; i++) {
        Dl_info info;
        search->names[i] = dladdr(site->frames[i], &info) && info.dli_sname ? info.dli_sname : "?";
    }
    return 0;
}

/* The stack of one allocation. */
static void capture(site_search *search, uint64_t size) {
    memset(search, 0, sizeof *search);
    memset(bytes_before, 0, sizeof bytes_before);
    search->size = size;
    rallo_for_each_site(note_bytes, NULL);
    assert_int_equal(rallo_enable(), 0);
    void *p = prog_level1(size);
    rallo_disable();
    assert_non_null(p);
    rallo_for_each_site(find_site, search);
    free(p);
    assert_int_equal(search->found, 1);
}

static void chain_stack(void **state) {
    (void)state;
    const char *mode = getenv("RALLO_UNWIND");
    site_search search;
    capture(&search, 777013);
    for (uint32_t i = 0; i < search.depth; i++)
        print_message("  frame %u: %s\n", i, search.names[i]);
    assert_true(search.depth >= 1);
    /* Every mode starts at malloc's caller: librallo's frames are skipped. */
    assert_string_equal(search.names[0], "lib_level6");
    if (mode != NULL && (strcmp(mode, "dwarf") == 0 || strcmp(mode, "auto") == 0)) {
        assert_true(search.depth >= 6);
        for (int i = 0; i < 6; i++)
            assert_string_equal(search.names[i], chain_names[i]);
        /* And on through main toward the process's start. */
        assert_true(search.depth >= 7);
    } else {
        /* Frame pointers cannot walk through frames that have none. */
        int in_order = 0;
        for (uint32_t i = 0; i < search.depth && in_order < 6; i++)
            if (strcmp(search.names[i], chain_names[in_order]) == 0)
                in_order++;
        assert_true(in_order < 6);
    }
}

/* Many unwinds of the same stack give one site, the same each time. */
static void chain_repeatable(void **state) {
    (void)state;
    site_search first, again;
    for (int i = 0; i < 50; i++) {
        capture(i == 0 ? &first : &again, 777014); /* one call site: one stack */
        if (i == 0)
            continue;
        if (getenv("RALLO_UNWIND") == NULL || strcmp(getenv("RALLO_UNWIND"), "fp") == 0)
            continue; /* frame pointers read whatever rbp held: no promise */
        assert_int_equal(first.depth, again.depth);
        for (uint32_t f = 0; f < first.depth; f++)
            assert_string_equal(first.names[f], again.names[f]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain_stack),
        cmocka_unit_test(chain_repeatable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
