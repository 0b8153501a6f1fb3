/* dump_bench.c - what a dump costs on a big profile: 10,000 call sites holding
 * 1M live blocks. Measures the counter walk (what a snapshot copies), each
 * format's dump time and size (the first dump symbolizes cold, later ones hit
 * the symbol cache), and how long an allocating thread is stalled while dumps
 * run (the worst malloc+free latency with and without dumps going on).
 * Usage: dump_bench [DIR] [SECONDS_OF_STALL_TEST] - links librallo, tracks from
 * the start. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "distinct_stacks.h"
#include "rallo.h"

#define SITES 10000
#define BLOCKS_PER_SITE 100

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void **blocks;

static int count_site(const rallo_site *site, void *arg) {
    (void)site;
    (*(size_t *)arg)++;
    return 0;
}

/* ---- the allocating thread: worst malloc+free latency in a window ---- */
static _Atomic int stop_probe;
static _Atomic int probe_window; /* bumped to start a new window */
/* Latency histogram in whole microseconds, the last bucket collecting the rest. */
#define HIST_BUCKETS 100001
typedef struct probe_stats {
    double max_us;
    unsigned long ops, over_1ms;
    unsigned long hist[HIST_BUCKETS];
} probe_stats;
static probe_stats probe[2];

static void *probe_main(void *arg) {
    (void)arg;
    void *ring[64] = {0};
    unsigned i = 0;
    while (!atomic_load(&stop_probe)) {
        int window = atomic_load(&probe_window) & 1;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        free(ring[i % 64]);
        ring[i % 64] = malloc(32 + i % 200);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double us = (double)(b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
        probe_stats *s = &probe[window];
        s->ops++;
        if (us > s->max_us)
            s->max_us = us;
        if (us > 1000)
            s->over_1ms++;
        s->hist[us < HIST_BUCKETS - 1 ? (size_t)us : HIST_BUCKETS - 1]++;
        i++;
    }
    for (int k = 0; k < 64; k++)
        free(ring[k]);
    return NULL;
}

static const char *const formats[] = {"html", "pprof", "folded", "text", "json"};
static const char *const extensions[] = {"html", "pb.gz", "folded", "txt", "json"};

/* The latency (us) below which `fraction` of the pairs fell. */
static double percentile(const probe_stats *s, double fraction) {
    unsigned long want = (unsigned long)(s->ops * fraction), seen = 0;
    for (size_t b = 0; b < HIST_BUCKETS; b++) {
        seen += s->hist[b];
        if (seen >= want)
            return (double)b + 1;
    }
    return s->max_us;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    double stall_seconds = argc > 2 ? atof(argv[2]) : 5;
    char path[4096];
    if (rallo_enable() != 0)
        return 1;

    double t0 = now_ms();
    blocks = malloc(sizeof(void *) * SITES * BLOCKS_PER_SITE);
    for (unsigned code = 0; code < SITES; code++)
        for (int b = 0; b < BLOCKS_PER_SITE; b++)
            blocks[(size_t)code * BLOCKS_PER_SITE + b] = stack_malloc(code, 3, 16 + code % 48);
    double t_alloc = now_ms() - t0;
    rallo_totals totals;
    rallo_get_totals(&totals);

    size_t nsites = 0;
    double t_walk = 1e9;
    for (int r = 0; r < 5; r++) { /* best of 5: the machine is shared */
        nsites = 0;
        t0 = now_ms();
        rallo_for_each_site(count_site, &nsites);
        double t = now_ms() - t0;
        if (t < t_walk)
            t_walk = t;
    }

    printf("dump_bench: %zu sites, %llu live blocks, %.1f MiB live (set up in %.0f ms)\n", nsites,
           (unsigned long long)totals.live_count, totals.live_bytes / 1048576.0, t_alloc);
    printf("%-34s %10.2f ms\n", "counter walk, all sites (best of 5)", t_walk);

    /* First dump of the process: the symbolizer opens every module cold. */
    snprintf(path, sizeof path, "%s/dump_bench.cold.json", dir);
    t0 = now_ms();
    rallo_dump(path, "json");
    double t_cold = now_ms() - t0;
    snprintf(path, sizeof path, "%s/dump_bench.warm.json", dir);
    t0 = now_ms();
    rallo_dump(path, "json");
    double t_warm = now_ms() - t0;
    printf("%-34s %10.2f ms\n", "json dump, first (cold symbols)", t_cold);
    printf("%-34s %10.2f ms\n", "json dump, again (cached symbols)", t_warm);
    printf("%-34s %10.2f ms\n", "=> cold symbolization, about", t_cold - t_warm);

    printf("\n%-8s %12s %12s   (snapshot + cached symbols + write + fsync + rename; best of 3)\n", "format",
           "time ms", "size bytes");
    double t_format[5];
    for (int f = 0; f < 5; f++) {
        snprintf(path, sizeof path, "%s/dump_bench.%s", dir, extensions[f]);
        t_format[f] = 1e9;
        for (int r = 0; r < 3; r++) {
            t0 = now_ms();
            if (rallo_dump(path, formats[f]) != 0)
                return 1;
            double t = now_ms() - t0;
            if (t < t_format[f])
                t_format[f] = t;
        }
        printf("%-8s %12.2f %12ld\n", formats[f], t_format[f], file_size(path));
    }
    printf("periodic html+pprof every 10 s: %.2f%% of one core\n",
           (t_format[0] + t_format[1]) / 10000.0 * 100);

    /* Stall: the same allocating thread, without dumps and then with back-to-back dumps. */
    pthread_t thread;
    pthread_create(&thread, NULL, probe_main, NULL);
    usleep((useconds_t)(stall_seconds * 1e6));
    atomic_fetch_add(&probe_window, 1);
    int dumps = 0;
    double end = now_ms() + stall_seconds * 1000;
    while (now_ms() < end) {
        snprintf(path, sizeof path, "%s/dump_bench.stall.%s", dir, extensions[dumps % 5]);
        rallo_dump(path, formats[dumps % 5]);
        dumps++;
    }
    atomic_store(&stop_probe, 1);
    pthread_join(thread, NULL);
    printf("\nallocating thread, malloc+free pairs  %10s %9s %9s %9s %8s\n", "pairs", "p99 us", "p99.99 us",
           "max us", "> 1 ms");
    for (int w = 0; w < 2; w++) {
        char label[64];
        if (w == 0)
            snprintf(label, sizeof label, "without dumps (%.0f s)", stall_seconds);
        else
            snprintf(label, sizeof label, "during %d dumps (%.0f s)", dumps, stall_seconds);
        printf("  %-34s %10lu %9.0f %9.0f %9.0f %8lu\n", label, probe[w].ops, percentile(&probe[w], 0.99),
               percentile(&probe[w], 0.9999), probe[w].max_us, probe[w].over_1ms);
    }

    for (size_t i = 0; i < (size_t)SITES * BLOCKS_PER_SITE; i++)
        free(blocks[i]);
    free(blocks);
    return 0;
}
