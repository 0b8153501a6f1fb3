/* lt_exit_target.c - a program whose sizes, lifetimes, temporaries and
 * threads are known, for the dumps the `rallo` command converts (the exit
 * dump under `rallo run --lifetimes` or RALLO_DUMP_ON_EXIT=1): run as
 * `lt_exit_target [DIR]`, it does what each function below says, prints on
 * stdout (JSON) what it did and the timings it measured itself, and returns
 * with every block it keeps still live and thread lt-beta still running, so
 * the exit dump sees them. Given DIR, it first dumps in-process to
 * DIR/inproc.json and DIR/inproc.pb.gz, two snapshots of one state. With
 * LT_EXIT_PAUSE_MS set it waits that long between its steps (for periodic
 * dumps between them: a timeline).
 * check_exit_lifetimes.py holds the truth. Nothing here allocates but the
 * functions named for it: the output goes through write(2), not stdio. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "rallo.h"

void *volatile sink;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Every block freed before anything else is allocated: all temporary. */
#define TEMPS 2500
#define TEMP_SIZE 24
__attribute__((noinline)) void exit_temp_site(void) {
    for (int i = 0; i < TEMPS; i++) {
        sink = malloc(TEMP_SIZE);
        free(sink);
    }
}

/* The first block of a pair is freed after the second was allocated (never
 * temporary), the second with nothing allocated since (always). */
#define PAIRS 1500
#define PAIR_SIZE 40
__attribute__((noinline)) void *exit_first_of_pair(void) {
    return malloc(PAIR_SIZE);
}
__attribute__((noinline)) void *exit_second_of_pair(void) {
    return malloc(PAIR_SIZE);
}
static void pairs(void) {
    for (int i = 0; i < PAIRS; i++) {
        void *first = exit_first_of_pair();
        void *second = exit_second_of_pair();
        free(first);
        free(second);
    }
}

/* One block of each size, all live at exit. */
static const size_t mix_sizes[] = {0, 1, 3, 8, 200, 3000, 4096, 65536, 300000};
#define MIX_COUNT (sizeof mix_sizes / sizeof mix_sizes[0])
static void *volatile mix_blocks[MIX_COUNT];
__attribute__((noinline)) void exit_size_mix(void) {
    for (size_t i = 0; i < MIX_COUNT; i++)
        mix_blocks[i] = malloc(mix_sizes[i]);
}

/* Blocks freed after a known wait: each lifetime lies between the bounds. */
#define WAITED_BLOCKS 6
#define WAITED_SIZE 300
__attribute__((noinline)) void *exit_waited_alloc(void) {
    return malloc(WAITED_SIZE);
}
static void waited(uint64_t wait_ns, uint64_t *lo, uint64_t *hi) {
    void *blocks[WAITED_BLOCKS];
    uint64_t before = now_ns();
    for (int i = 0; i < WAITED_BLOCKS; i++)
        blocks[i] = exit_waited_alloc();
    uint64_t allocated = now_ns();
    sleep_ns(wait_ns);
    uint64_t freeing = now_ns();
    for (int i = 0; i < WAITED_BLOCKS; i++)
        free(blocks[i]);
    *lo = freeing - allocated;
    *hi = now_ns() - before;
}

/* Two named threads: lt-alpha exits early, lt-beta is still running at exit. */
#define ALPHA_ALLOCS 400
#define ALPHA_KEPT 150
#define ALPHA_SIZE 64
#define BETA_ALLOCS 250
#define BETA_KEPT 90
#define BETA_FREED_BY_MAIN 30
#define BETA_SIZE 128
static void *volatile alpha_kept[ALPHA_KEPT];
static void *volatile beta_kept[BETA_KEPT];
static pthread_barrier_t beta_ready;
__attribute__((noinline)) void *exit_alpha_alloc(void) {
    return malloc(ALPHA_SIZE);
}
__attribute__((noinline)) void *exit_beta_alloc(void) {
    return malloc(BETA_SIZE);
}
static void *alpha(void *arg) {
    (void)arg;
    prctl(PR_SET_NAME, "lt-alpha");
    for (int i = 0; i < ALPHA_ALLOCS; i++) {
        void *p = exit_alpha_alloc();
        if (i < ALPHA_KEPT)
            alpha_kept[i] = p;
        else
            free(p);
    }
    return NULL;
}
static void *beta(void *arg) {
    (void)arg;
    prctl(PR_SET_NAME, "lt-beta");
    for (int i = 0; i < BETA_ALLOCS; i++) {
        void *p = exit_beta_alloc();
        if (i < BETA_KEPT)
            beta_kept[i] = p;
        else
            free(p);
    }
    pthread_barrier_wait(&beta_ready);
    for (;;)
        pause(); /* running when the process exits */
    return NULL;
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

static void pause_between_steps(void) {
    const char *ms = getenv("LT_EXIT_PAUSE_MS");
    if (ms != NULL)
        sleep_ns((uint64_t)atoi(ms) * 1000000ull);
}

int main(int argc, char **argv) {
    prctl(PR_SET_NAME, "lt-main");
    pthread_barrier_init(&beta_ready, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, alpha, NULL);
    pthread_join(a, NULL);
    pthread_create(&b, NULL, beta, NULL);
    pthread_barrier_wait(&beta_ready);
    for (int i = 0; i < BETA_FREED_BY_MAIN; i++)
        free(beta_kept[i]);
    pause_between_steps();
    exit_temp_site();
    pause_between_steps();
    pairs();
    pause_between_steps();
    exit_size_mix();
    /* A wait in the middle of a log2 bucket: 1.4 * 2^24 ns (about 23 ms). */
    uint64_t wait_lo, wait_hi;
    waited((uint64_t)(1.4 * (double)(1u << 24)), &wait_lo, &wait_hi);
    if (argc > 1)
        dump_inproc(argv[1]);
    char out[2048];
    int n = snprintf(out, sizeof out,
                     "{\"temps\":[%d,%d],\"pairs\":[%d,%d],\"waited\":[%d,%d,%llu,%llu],"
                     "\"alpha\":[%d,%d,%d],\"beta\":[%d,%d,%d,%d],\"sizes\":[",
                     TEMPS, TEMP_SIZE, PAIRS, PAIR_SIZE, WAITED_BLOCKS, WAITED_SIZE,
                     (unsigned long long)wait_lo, (unsigned long long)wait_hi, ALPHA_ALLOCS, ALPHA_KEPT,
                     ALPHA_SIZE, BETA_ALLOCS, BETA_KEPT, BETA_FREED_BY_MAIN, BETA_SIZE);
    for (size_t i = 0; i < MIX_COUNT && n > 0 && (size_t)n < sizeof out; i++)
        n += snprintf(out + n, sizeof out - (size_t)n, "%s%zu", i ? "," : "", mix_sizes[i]);
    if (n > 0 && (size_t)n < sizeof out)
        n += snprintf(out + n, sizeof out - (size_t)n, "]}\n");
    if (n <= 0 || (size_t)n >= sizeof out || write(STDOUT_FILENO, out, (size_t)n) != n)
        return 1;
    return 0; /* lt-beta still runs: exit takes it down after the exit dump */
}
