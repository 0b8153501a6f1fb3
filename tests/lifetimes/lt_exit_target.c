/* lt_exit_target.c - a program whose sizes, lifetimes, temporaries and
 * threads are known, for the dumps the `rallo` command converts (the exit
 * dump under `rallo run --lifetimes` or RALLO_DUMP_ON_EXIT=1): run as
 * `lt_exit_target [DIR]`, it makes the allocations main() describes, prints
 * on stdout (JSON) what it did and the timings it measured itself, and
 * returns with every block it keeps still live and thread lt-beta still
 * running, so the exit dump sees them. Given DIR, it first dumps in-process
 * to DIR/inproc.json and DIR/inproc.pb.gz, two snapshots of one state. With
 * LT_EXIT_PAUSE_MS set it waits that long between its steps (for periodic
 * dumps between them: a timeline). check_exit_lifetimes.py holds the truth.
 * Nothing here allocates but the sites below: the output goes through
 * write(2), not stdio. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../common/churn.h" /* churn_now_seconds */
#include "rallo.h"

/* Each site a function that only allocates, so that its frame names the site. */
#define ALLOC_SITE(name)                                                                                     \
    __attribute__((noinline)) void *name(size_t size) {                                                      \
        return malloc(size);                                                                                 \
    }
ALLOC_SITE(exit_temp_site)
ALLOC_SITE(exit_first_of_pair)
ALLOC_SITE(exit_second_of_pair)
ALLOC_SITE(exit_size_mix)
ALLOC_SITE(exit_waited_alloc)
ALLOC_SITE(exit_alpha_alloc)
ALLOC_SITE(exit_beta_alloc)

enum {
    TEMPS = 2500, /* blocks freed before anything else is allocated: all temporary */
    TEMP_SIZE = 24,
    PAIRS = 1500, /* the first of a pair freed after the second was made (never temporary), the second right
                     after */
    PAIR_SIZE = 40,
    WAITED_BLOCKS = 6, /* freed after a known wait */
    WAITED_SIZE = 300,
    BETA_FREED_BY_MAIN = 30,
};

/* One block of each size, all live at exit. */
static const size_t mix_sizes[] = {0, 1, 3, 8, 200, 3000, 4096, 65536, 300000};
#define MIX_COUNT (sizeof mix_sizes / sizeof mix_sizes[0])
static void *volatile mix_blocks[MIX_COUNT];

static uint64_t clock_ns(void) {
    return (uint64_t)(churn_now_seconds() * 1e9);
}

/* A named thread that allocates `allocs` blocks and keeps the first `kept`;
 * lt-alpha returns, lt-beta is still running at exit. */
typedef struct worker {
    const char *name;
    void *(*site)(size_t);
    size_t size;
    int allocs, kept;
    void *volatile blocks[150];
    bool stays;
} worker;
static worker alpha = {"lt-alpha", exit_alpha_alloc, 64, 400, 150, {0}, false};
static worker beta = {"lt-beta", exit_beta_alloc, 128, 250, 90, {0}, true};
static pthread_barrier_t beta_ready;

static void *work(void *arg) {
    worker *w = arg;
    prctl(PR_SET_NAME, w->name);
    for (int i = 0; i < w->allocs; i++) {
        void *p = w->site(w->size);
        if (i < w->kept)
            w->blocks[i] = p;
        else
            free(p);
    }
    if (w->stays) {
        pthread_barrier_wait(&beta_ready);
        for (;;)
            pause();
    }
    return NULL;
}

static void pause_between_steps(void) {
    const char *ms = getenv("LT_EXIT_PAUSE_MS");
    if (ms != NULL)
        usleep((useconds_t)atoi(ms) * 1000u);
}

static void dump_inproc(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/inproc.json", dir);
    if (rallo_dump(path, "json") != 0)
        exit(3);
    snprintf(path, sizeof path, "%s/inproc.pb.gz", dir);
    if (rallo_dump(path, "pprof") != 0)
        exit(3);
}

int main(int argc, char **argv) {
    prctl(PR_SET_NAME, "lt-main");
    pthread_barrier_init(&beta_ready, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, work, &alpha);
    pthread_join(a, NULL);
    pthread_create(&b, NULL, work, &beta);
    pthread_barrier_wait(&beta_ready);
    for (int i = 0; i < BETA_FREED_BY_MAIN; i++)
        free(beta.blocks[i]);
    pause_between_steps();
    for (int i = 0; i < TEMPS; i++)
        free(exit_temp_site(TEMP_SIZE));
    pause_between_steps();
    for (int i = 0; i < PAIRS; i++) {
        void *first = exit_first_of_pair(PAIR_SIZE), *second = exit_second_of_pair(PAIR_SIZE);
        free(first);
        free(second);
    }
    pause_between_steps();
    for (size_t i = 0; i < MIX_COUNT; i++)
        mix_blocks[i] = exit_size_mix(mix_sizes[i]);
    /* A wait in the middle of a log2 bucket, 1.4 * 2^24 ns (about 23 ms):
     * each lifetime lies between the bounds measured around it. */
    void *waited[WAITED_BLOCKS];
    uint64_t before = clock_ns();
    for (int i = 0; i < WAITED_BLOCKS; i++)
        waited[i] = exit_waited_alloc(WAITED_SIZE);
    uint64_t allocated = clock_ns();
    usleep((useconds_t)(1.4 * (double)(1u << 24) / 1000));
    uint64_t freeing = clock_ns();
    for (int i = 0; i < WAITED_BLOCKS; i++)
        free(waited[i]);
    uint64_t freed = clock_ns();
    if (argc > 1)
        dump_inproc(argv[1]);
    char out[2048];
    int n =
        snprintf(out, sizeof out,
                 "{\"temps\":[%d,%d],\"pairs\":[%d,%d],\"waited\":[%d,%d,%llu,%llu],"
                 "\"alpha\":[%d,%d,%zu],\"beta\":[%d,%d,%d,%zu],\"sizes\":[",
                 TEMPS, TEMP_SIZE, PAIRS, PAIR_SIZE, WAITED_BLOCKS, WAITED_SIZE,
                 (unsigned long long)(freeing - allocated), (unsigned long long)(freed - before),
                 alpha.allocs, alpha.kept, alpha.size, beta.allocs, beta.kept, BETA_FREED_BY_MAIN, beta.size);
    for (size_t i = 0; i < MIX_COUNT && n > 0 && (size_t)n < sizeof out; i++)
        n += snprintf(out + n, sizeof out - (size_t)n, "%s%zu", i ? "," : "", mix_sizes[i]);
    if (n > 0 && (size_t)n < sizeof out)
        n += snprintf(out + n, sizeof out - (size_t)n, "]}\n");
    if (n <= 0 || (size_t)n >= sizeof out || write(STDOUT_FILENO, out, (size_t)n) != n)
        return 1;
    return 0; /* lt-beta still runs: exit takes it down after the exit dump */
}
