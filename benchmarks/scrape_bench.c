/* scrape_bench.c - a service for scrape_cost.py to scrape: SITES distinct call
 * sites hold a block each (tracked, every allocation), and one thread
 * allocates and frees in a loop at a few sites, timing every malloc() and
 * free() pair, while the script scrapes RALLO_HTTP. Prints "ready" once the
 * sites are made; when stdin closes, prints the pairs done, the slowest
 * pair and how many took over 1 ms and over 10 ms, and exits.
 * Usage: scrape_bench [SITES] - links librallo, tracks from the start. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "distinct_stacks.h"
#include "rallo.h"

#define SITES_MAX 100000

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static atomic_bool stop;
static unsigned long long pairs, over_1ms, over_10ms;
static double slowest_ms;

static void *allocate_loop(void *unused) {
    (void)unused;
    pthread_setname_np(pthread_self(), "allocator");
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (unsigned i = 0; i < 1000; i++) {
            double start = now_ms();
            void *p = stack_levels[i % 10](i, 5, 32 + i % 256);
            free(p);
            double took = now_ms() - start;
            pairs++;
            over_1ms += took > 1.0;
            over_10ms += took > 10.0;
            if (took > slowest_ms)
                slowest_ms = took;
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    unsigned sites = argc > 1 ? (unsigned)atoi(argv[1]) : 50000;
    if (sites > SITES_MAX)
        sites = SITES_MAX;
    if (rallo_enable() != 0) {
        perror("rallo_enable");
        return 1;
    }
    static void *blocks[SITES_MAX];
    for (unsigned code = 0; code < sites; code++)
        blocks[code] = stack_malloc(code, 5, 16 + code % 64);
    pthread_t thread;
    pthread_create(&thread, NULL, allocate_loop, NULL);
    printf("ready %u sites\n", sites);
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin) != NULL) {
    }
    atomic_store(&stop, true);
    pthread_join(thread, NULL);
    printf("pairs %llu slowest %.3f ms over_1ms %llu over_10ms %llu\n", pairs, slowest_ms, over_1ms,
           over_10ms);
    for (unsigned code = 0; code < sites; code++)
        free(blocks[code]);
    return 0;
}
