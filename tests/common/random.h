/* random.h - the xorshift64 generator the tests draw sizes, choices and
 * inputs from: cheap, per-thread state, reproducible from a seed. */
#ifndef RALLO_TEST_RANDOM_H
#define RALLO_TEST_RANDOM_H

#include <stdint.h>

/* Advances *state (never 0) and returns the new value. */
static inline uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif
