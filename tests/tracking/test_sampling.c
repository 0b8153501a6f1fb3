/* test_sampling.c - at a mean sampling interval of T = 65536 bytes, the
 * estimated bytes per site must match the known truth within five standard
 * deviations of the estimator, and the total within 2%.
 *
 * The statistics: an allocation of s bytes is sampled with p(s) = 1 - exp(-s/T)
 * (exponential gaps are memoryless) and then weighs s / p(s). The estimate of
 * a site's bytes is the sum over its n allocations of I_i * s / p, unbiased,
 * with variance sum_i s^2 (1 - p) / p. The test computes that variance from
 * the workload it runs (known sizes and counts) and allows 5 sigma per site
 * (a false failure about once in 1.7 million runs per site). The workload is
 * sized so that 5 sigma of the total is below 2% (about 1.3% here), so the
 * 2% bound on totals is implied, not a separate gamble. Object counts are
 * checked the same way: variance sum_i (1 - p) / p. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sites.h"

#define NOINLINE __attribute__((noinline, used))
#define INTERVAL 65536.0

static sites_snapshot snap;
static void *volatile sink;

/* Each site allocates `count` blocks of `size` bytes, freed at once. */
typedef struct workload {
    const char *name;
    size_t size;
    uint32_t count;
} workload;

NOINLINE void tiny_site(size_t size, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        sink = malloc(size);
        free(sink);
    }
}
NOINLINE void page_site(size_t size, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        sink = malloc(size);
        free(sink);
    }
}
NOINLINE void big_site(size_t size, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        sink = malloc(size);
        free(sink);
    }
}
/* Sizes MIXED_MIN..4096 in turn: the truth is known, the variance summed per
 * size. Not from 1: the count of a site is then carried by a handful of samples
 * of the tiniest sizes (a 1-byte block weighs 65536 objects, and 50 rounds
 * sample sizes 1..16 about 0.1 times in all), a Poisson tail that no normal
 * approximation covers: 5 "sigma" failed about once in 70 runs. From 256 up
 * every size contributes and the count estimate is a sum of ~700 samples. */
#define MIXED_MIN 256
NOINLINE void mixed_site(uint32_t rounds) {
    for (uint32_t r = 0; r < rounds; r++)
        for (size_t size = MIXED_MIN; size <= 4096; size++) {
            sink = malloc(size);
            free(sink);
        }
}

static double variance_bytes(double size, double count) {
    double p = -expm1(-size / INTERVAL);
    return count * size * size * (1 - p) / p;
}
static double variance_count(double size, double count) {
    double p = -expm1(-size / INTERVAL);
    return count * (1 - p) / p;
}

static void check_site(const char *name, double true_bytes, double var_bytes, double true_count,
                       double var_count) {
    int how_many;
    const rallo_site *site = site_by_leaf(&snap, name, &how_many);
    assert_int_equal(how_many, 1);
    double bytes_error = (double)site->alloc_bytes - true_bytes;
    double count_error = (double)site->alloc_count - true_count;
    print_message(
        "%-10s bytes %12.0f est %12llu (%+.2f%%, %+.2f sigma)  count %9.0f est %9llu (%+.2f sigma)\n", name,
        true_bytes, (unsigned long long)site->alloc_bytes, 100 * bytes_error / true_bytes,
        bytes_error / sqrt(var_bytes), true_count, (unsigned long long)site->alloc_count,
        count_error / sqrt(var_count));
    assert_true(fabs(bytes_error) <= 5 * sqrt(var_bytes));
    /* +1: the count is rounded to a whole number when read. */
    assert_true(fabs(count_error) <= 5 * sqrt(var_count) + 1);
}

void test_sampled_estimates(void **state);
void test_sampled_estimates(void **state) {
    (void)state;
    static const workload fixed[] = {
        {"tiny_site", 64, 400000},
        {"page_site", 4000, 100000},
        {"big_site", 65536, 100000},
    };
    const uint32_t mixed_rounds = 50;
    assert_int_equal(rallo_set_sample_interval((uint64_t)INTERVAL), 0);
    assert_int_equal(rallo_get_sample_interval(), (uint64_t)INTERVAL);
    assert_int_equal(rallo_enable(), 0);
    tiny_site(fixed[0].size, fixed[0].count);
    page_site(fixed[1].size, fixed[1].count);
    big_site(fixed[2].size, fixed[2].count);
    mixed_site(mixed_rounds);
    rallo_disable();
    sites_take(&snap, rallo_for_each_site);

    double total_true = 0, total_var = 0, total_est = 0;
    for (int i = 0; i < 3; i++) {
        double bytes = (double)fixed[i].size * fixed[i].count;
        double var = variance_bytes((double)fixed[i].size, fixed[i].count);
        check_site(fixed[i].name, bytes, var, fixed[i].count,
                   variance_count((double)fixed[i].size, fixed[i].count));
        total_true += bytes;
        total_var += var;
    }
    double mixed_bytes = 0, mixed_var = 0, mixed_count_var = 0;
    for (size_t size = MIXED_MIN; size <= 4096; size++) {
        mixed_bytes += (double)size * mixed_rounds;
        mixed_var += variance_bytes((double)size, mixed_rounds);
        mixed_count_var += variance_count((double)size, mixed_rounds);
    }
    check_site("mixed_site", mixed_bytes, mixed_var, (4096.0 - MIXED_MIN + 1) * mixed_rounds,
               mixed_count_var);
    total_true += mixed_bytes;
    total_var += mixed_var;

    for (uint32_t i = 0; i < snap.count; i++)
        if (stack_has(&snap.sites[i].site, "test_sampled_estimates"))
            total_est += (double)snap.sites[i].site.alloc_bytes;
    double total_error = (total_est - total_true) / total_true;
    print_message("total: truth %.0f estimate %.0f (%+.3f%%); 5 sigma = %.3f%%\n", total_true, total_est,
                  100 * total_error, 500 * sqrt(total_var) / total_true);
    assert_true(5 * sqrt(total_var) / total_true < 0.02); /* the workload is big enough for the 2% claim */
    assert_true(fabs(total_error) <= 0.02);
    /* Everything was freed: the live estimates are exactly 0 (free subtracts
     * the same weight alloc added). */
    for (uint32_t i = 0; i < snap.count; i++)
        if (stack_has(&snap.sites[i].site, "test_sampled_estimates"))
            assert_int_equal(snap.sites[i].site.live_bytes, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampled_estimates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
