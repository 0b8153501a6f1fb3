/* expmath.c - the two elementary functions the sampler needs: ln(u) to draw
 * exponential gaps, and 1 - e^-x for a block's chance of being sampled.
 *
 * Written here rather than taken from libm on purpose: linking libm made every
 * process that preloads librallo map it and fault in ~290 KiB of it (measured
 * with /proc/self/smaps on a malloc(100) program), for two functions that run
 * only when sampling is on. Both are accurate to a few units in the last place
 * over the ranges the sampler uses (tests/tracking/test_expmath.c compares
 * them with libm's log and expm1). */
#include <string.h>

#include "sampler.h"

#define LN2 0.69314718055994530942

double _rallo_ln(double x) {
    /* x = m * 2^e with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s) with
     * s = (m - 1) / (m + 1), |s| < 0.172, whose odd series converges fast. */
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int exponent = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.41421356237309504880) {
        m *= 0.5;
        exponent++;
    }
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double power = s, sum = 0.0;
    for (int k = 1; k <= 25; k += 2) { /* s2^12 < 10^-18 */
        sum += power / k;
        power *= s2;
    }
    return exponent * LN2 + 2.0 * sum;
}

double _rallo_one_minus_exp_neg(double x) {
    if (x <= 0.0)
        return 0.0;
    if (x < 0.5) {
        /* The series of 1 - e^-x itself: no cancellation for small x. */
        double term = x, sum = 0.0;
        for (int n = 1; n <= 20 && term > 1e-18 * sum; n++) {
            sum += (n & 1) ? term : -term;
            term *= x / (n + 1);
        }
        return sum;
    }
    if (x > 745.0) /* e^-x is below the smallest double */
        return 1.0;
    /* e^-x = 2^-k e^-r, x = k ln 2 + r, 0 <= r < ln 2. */
    int k = (int)(x / LN2);
    double r = x - k * LN2, term = 1.0, e_neg_r = 1.0;
    for (int n = 1; n <= 20; n++) {
        term *= -r / n;
        e_neg_r += term;
    }
    double scale = 1.0;
    for (; k >= 60; k -= 60)
        scale *= 0x1.0p-60;
    scale *= 1.0 / (double)(1ull << k);
    return 1.0 - e_neg_r * scale;
}
