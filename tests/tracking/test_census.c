/* test_census.c - the census (a walk of this thread's tracked heap reading the
 * block headers) agrees with the counters, site by site, at several points of
 * a single-threaded run: every tracked block of this process lives in this
 * thread's heap, so the two must match exactly. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sites.h"

#define NOINLINE __attribute__((noinline, used))

static sites_snapshot counted, walked;

/* Every site with live blocks by the counters is in the census with the same
 * figures, and the census has no other site. */
static void census_matches_counters(const char *when) {
    int was_on = rallo_is_enabled();
    rallo_disable(); /* the comparison itself must not allocate tracked blocks */
    sites_take(&counted, rallo_for_each_site);
    sites_take(&walked, rallo_census);
    uint32_t live_sites = 0;
    for (uint32_t i = 0; i < counted.count; i++) {
        const rallo_site *site = &counted.sites[i].site;
        if (site->live_count == 0) {
            assert_int_equal(site->live_bytes, 0);
            continue;
        }
        live_sites++;
        const rallo_site *census = site_by_id(&walked, site->site_id);
        if (census == NULL || census->live_count != site->live_count ||
            census->live_bytes != site->live_bytes)
            fprintf(stderr, "%s: site %u counters %llu/%llu census %llu/%llu\n", when, site->site_id,
                    (unsigned long long)site->live_count, (unsigned long long)site->live_bytes,
                    census ? (unsigned long long)census->live_count : 0ull,
                    census ? (unsigned long long)census->live_bytes : 0ull);
        assert_non_null(census);
        assert_int_equal(census->live_count, site->live_count);
        assert_int_equal(census->live_bytes, site->live_bytes);
        assert_int_equal(census->depth, site->depth);
    }
    assert_int_equal(walked.count, live_sites);
    if (was_on)
        rallo_enable();
}

enum { KEEP = 4000 };
static void *kept[KEEP];

NOINLINE void *small_site(size_t i) {
    return malloc(8 + i % 200);
}
NOINLINE void *zero_site(size_t i) {
    return calloc(1 + i % 7, 33);
}
NOINLINE void *grow_site(void *p, size_t i) {
    return realloc(p, 100 + i * 3);
}
NOINLINE void *big_site(size_t i) {
    return malloc(100000 + i * 4096);
}
NOINLINE void *aligned_site(size_t i) {
    return aligned_alloc((size_t)64 << (i % 8), 24 + i);
}

static void test_census_agrees(void **state) {
    (void)state;
    assert_int_equal(rallo_enable(), 0);
    census_matches_counters("start");
    for (size_t i = 0; i < KEEP; i++) {
        switch (i % 5) {
        case 0: kept[i] = small_site(i); break;
        case 1: kept[i] = zero_site(i); break;
        case 2: kept[i] = grow_site(NULL, i); break;
        case 3: kept[i] = (i % 50 == 3) ? big_site(i) : small_site(i); break;
        default: kept[i] = aligned_site(i); break;
        }
    }
    census_matches_counters("after allocating");
    for (size_t i = 0; i < KEEP; i += 3) {
        free(kept[i]);
        kept[i] = NULL;
    }
    census_matches_counters("after freeing a third");
    for (size_t i = 1; i < KEEP; i += 3)
        kept[i] = grow_site(kept[i], i * 2);
    census_matches_counters("after reallocs");
    /* Half of it freed while disabled: still subtracted. */
    rallo_disable();
    for (size_t i = 0; i < KEEP; i += 2) {
        free(kept[i]);
        kept[i] = NULL;
    }
    census_matches_counters("after frees while disabled");
    for (size_t i = 0; i < KEEP; i++)
        free(kept[i]);
    census_matches_counters("everything freed");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_census_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
