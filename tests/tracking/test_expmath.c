/* test_expmath.c - the sampler's own ln and 1 - e^-x (tracking/expmath.c,
 * there so that librallo needs no libm) against libm's log and expm1, the
 * trusted outside reference: relative error under 1e-14 over every range the
 * sampler feeds them (uniforms in [2^-53, 1], size/interval from 2^-40 to
 * beyond the last double), plus the edges. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../common/random.h"

double _rallo_ln(double x);
double _rallo_one_minus_exp_neg(double x);

#define TOLERANCE 1e-14

static double relative_error(double got, double want) {
    if (want == 0.0)
        return fabs(got);
    return fabs(got - want) / fabs(want);
}

static void ln_matches_libm(void **unused) {
    (void)unused;
    uint64_t state = 0x5eed1234abcdull;
    double worst = 0.0;
    for (int i = 0; i < 1000000; i++) {
        /* The sampler's uniforms: (r + 1) * 2^-53, r < 2^53. */
        double u = (double)((next_random(&state) >> 11) + 1) * 0x1.0p-53;
        double error = relative_error(_rallo_ln(u), log(u));
        if (u < 0.999 && error > worst) /* near 1 log(u) -> 0: absolute error below */
            worst = error;
        assert_true(fabs(_rallo_ln(u) - log(u)) < 1e-15 + TOLERANCE * fabs(log(u)));
    }
    assert_true(worst < TOLERANCE);
    assert_true(_rallo_ln(1.0) == 0.0);
    assert_true(relative_error(_rallo_ln(0x1.0p-53), log(0x1.0p-53)) < TOLERANCE);
    assert_true(relative_error(_rallo_ln(0.5), log(0.5)) < TOLERANCE);
    assert_true(relative_error(_rallo_ln(1000.0), log(1000.0)) < TOLERANCE);
}

static void one_minus_exp_neg_matches_libm(void **unused) {
    (void)unused;
    uint64_t state = 0x77aa55ull;
    for (int i = 0; i < 1000000; i++) {
        /* x = size / interval: log-uniform from 2^-40 to 2^10. */
        double x = exp2(-40.0 + 50.0 * (double)(next_random(&state) >> 11) * 0x1.0p-53);
        double want = -expm1(-x);
        assert_true(relative_error(_rallo_one_minus_exp_neg(x), want) < TOLERANCE);
    }
    double edges[] = {0x1.0p-60, 1e-10, 0.4999999, 0.5, 0.5000001, 0.6931471805599453, 1.0, 41.0, 700.0};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        assert_true(relative_error(_rallo_one_minus_exp_neg(edges[i]), -expm1(-edges[i])) < TOLERANCE);
    assert_true(_rallo_one_minus_exp_neg(0.0) == 0.0);
    assert_true(_rallo_one_minus_exp_neg(1e6) == 1.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ln_matches_libm),
        cmocka_unit_test(one_minus_exp_neg_matches_libm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
