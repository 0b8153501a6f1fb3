/* scrape_bench.c - a service for scrape_cost.py to scrape: SITES distinct call
 * sites hold a block each (tracked, every allocation), and one thread
 * allocates and frees in a loop at a few sites, timing every malloc() and
 * free() pair, while the script scrapes RALLO_HTTP. Prints "ready" once the
 * sites are made; when stdin closes, prints the pairs done, the slowest
 * pair and how many took over 1 ms and over 10 ms, and exits.
 * With `copy N`, it times instead, while the thread allocates, N copies of
 * what a snapshot copies under a dump's lock (the counters of every site and
 * their peak, through librallo's door into room mapped beforehand, as
 * report/inproc/snapshot.c does), prints the median and the longest, and exits.
 * Usage: scrape_bench [SITES [copy N]] - links librallo, tracks from the start. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "distinct_stacks.h"
#include "door.h"
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

static int compare_ms(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The copy a snapshot makes under the dump lock, timed N times. */
static void time_copies(unsigned sites, unsigned n) {
    const rallo_door *door = _rallo_door_get();
    size_t room = (size_t)sites + sites / 16 + 64;
    rallo_site_sums *sums = mmap(NULL, room * sizeof *sums, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    uint64_t *at_peak = mmap(NULL, room * sizeof *at_peak, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    double *took = calloc(n, sizeof *took);
    if (sums == MAP_FAILED || at_peak == MAP_FAILED || took == NULL) {
        perror("scrape_bench");
        exit(1);
    }
    uint32_t copied = 0;
    for (unsigned i = 0; i < n; i++) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
        double start = now_ms();
        copied = door->sites_snapshot(sums, (uint32_t)room);
        uint64_t peak = 0;
        door->peak_sites(at_peak, copied, &peak);
        took[i] = now_ms() - start;
    }
    qsort(took, n, sizeof *took, compare_ms);
    printf("copy of %u sites: median %.3f ms, longest %.3f ms, %u copies\n", copied, took[n / 2], took[n - 1],
           n);
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
    if (argc > 3 && strcmp(argv[2], "copy") == 0) {
        time_copies(sites, (unsigned)atoi(argv[3]) > 0 ? (unsigned)atoi(argv[3]) : 1);
        atomic_store(&stop, true);
        pthread_join(thread, NULL);
        return 0;
    }
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
