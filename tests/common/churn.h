/* churn.h - what the programs that tests run under LD_PRELOAD share: a clock,
 * and allocation churn so every dump has something moving (a ring of 256
 * blocks of 16..527 bytes, refilled a thousand at a time, every millisecond). */
#ifndef RALLO_TEST_CHURN_H
#define RALLO_TEST_CHURN_H

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static inline double churn_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Churns for `seconds`; a negative value churns until the process is killed. */
static inline void churn_for(double seconds) {
    void *ring[256] = {0};
    double end = churn_now_seconds() + seconds;
    unsigned i = 0;
    while (seconds < 0 || churn_now_seconds() < end) {
        for (int k = 0; k < 1000; k++, i++) {
            free(ring[i % 256]);
            ring[i % 256] = malloc(16 + i % 512);
        }
        usleep(1000);
    }
    for (int k = 0; k < 256; k++)
        free(ring[k]);
}

#endif
