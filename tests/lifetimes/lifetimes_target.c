/* lifetimes_target.c - a program whose sizes, lifetimes, temporaries and
 * threads are known: run as `lifetimes_target exact|sampled OUT.json`, it
 * does what each function below says, dumps rallo's JSON report to OUT.json
 * and prints on stdout (JSON) the timings it measured itself, which bound the
 * lifetimes and ages rallo reports. check_lifetimes.py holds the truth. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Each block freed before anything else is allocated: all temporary. */
__attribute__((noinline)) void temp_site(int n, size_t size) {
    for (int i = 0; i < n; i++) {
        sink = malloc(size);
        free(sink);
    }
}

/* first_of_pair's block is freed after second_of_pair allocated: never
 * temporary; second_of_pair's is freed with nothing allocated since: always. */
__attribute__((noinline)) void *first_of_pair(size_t size) {
    return malloc(size);
}
__attribute__((noinline)) void *second_of_pair(size_t size) {
    return malloc(size);
}
static void pairs(int n, size_t size) {
    for (int i = 0; i < n; i++) {
        void *first = first_of_pair(size);
        void *second = second_of_pair(size);
        free(first);
        free(second);
    }
}

/* One block of each size, kept live to the dump. */
static const size_t mix_sizes[] = {0, 1, 2, 3, 7, 100, 1000, 4095, 4096, 70000, 1 << 20};
#define MIX_COUNT (sizeof mix_sizes / sizeof mix_sizes[0])
static void
    *volatile mix_blocks[MIX_COUNT]; /* volatile: the compiler may drop a malloc whose block is never read */
__attribute__((noinline)) void size_mix(void) {
    for (size_t i = 0; i < MIX_COUNT; i++)
        mix_blocks[i] = malloc(mix_sizes[i]);
}

/* Blocks freed after a known wait; the lifetime's bounds measured. */
#define WAITED_BLOCKS 8
__attribute__((noinline)) void *waited_alloc(size_t size) {
    return malloc(size);
}
static void waited(uint64_t wait_ns, size_t size, uint64_t *lo, uint64_t *hi) {
    void *blocks[WAITED_BLOCKS];
    uint64_t before = now_ns();
    for (int i = 0; i < WAITED_BLOCKS; i++)
        blocks[i] = waited_alloc(size);
    uint64_t allocated = now_ns();
    sleep_ns(wait_ns);
    uint64_t freeing = now_ns();
    for (int i = 0; i < WAITED_BLOCKS; i++)
        free(blocks[i]);
    uint64_t freed = now_ns();
    *lo = freeing - allocated;
    *hi = freed - before;
}

/* Blocks still live at the dump; their age bounded by the caller. */
#define AGED_BLOCKS 5
static void *volatile aged_blocks[AGED_BLOCKS];
__attribute__((noinline)) void aged_alloc(void) {
    for (int i = 0; i < AGED_BLOCKS; i++)
        aged_blocks[i] = malloc(48);
}

/* Two named threads: alpha exits before the dump, beta waits past it. */
#define ALPHA_ALLOCS 300
#define ALPHA_KEPT 100
#define BETA_ALLOCS 200
#define BETA_KEPT 50
#define BETA_FREED_BY_MAIN 20
static void *volatile beta_blocks[BETA_KEPT];
static pthread_barrier_t beta_ready, dumped;
static void *volatile alpha_kept[ALPHA_KEPT]; /* live at the dump, after alpha has exited */
__attribute__((noinline)) void *alpha_alloc(void) {
    return malloc(64);
}
__attribute__((noinline)) void *beta_alloc(void) {
    return malloc(128);
}
static void *alpha(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "lt-alpha");
    for (int i = 0; i < ALPHA_ALLOCS; i++) {
        void *p = alpha_alloc();
        if (i < ALPHA_KEPT)
            alpha_kept[i] = p;
        else
            free(p);
    }
    return NULL;
}
static void *beta(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "lt-beta");
    for (int i = 0; i < BETA_ALLOCS; i++) {
        void *p = beta_alloc();
        if (i < BETA_KEPT)
            beta_blocks[i] = p;
        else
            free(p);
    }
    pthread_barrier_wait(&beta_ready);
    pthread_barrier_wait(&dumped);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s exact|sampled|off OUT.json\n", argv[0]);
        return 2;
    }
    bool sampled = strcmp(argv[1], "sampled") == 0;
    if (rallo_enable() != 0)
        return 1;
    pthread_barrier_init(&beta_ready, NULL, 2);
    pthread_barrier_init(&dumped, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, alpha, NULL);
    pthread_join(a, NULL);
    pthread_create(&b, NULL, beta, NULL);
    pthread_barrier_wait(&beta_ready);
    for (int i = 0; i < BETA_FREED_BY_MAIN; i++)
        free(beta_blocks[i]);

    int temps = sampled ? 200000 : 4000, npairs = sampled ? 100000 : 3000;
    temp_site(temps, sampled ? 1000 : 24);
    pairs(npairs, sampled ? 1000 : 40);
    size_mix();
    /* Waits in the middle of a log2 bucket: 1.4 * 2^24 ns (about 23 ms). */
    uint64_t wait_lo, wait_hi;
    waited((uint64_t)(1.4 * (double)(1u << 24)), 200, &wait_lo, &wait_hi);
    uint64_t aged_before = now_ns();
    aged_alloc();
    uint64_t aged_after = now_ns();
    sleep_ns((uint64_t)(1.4 * (double)(1u << 25)));
    uint64_t dump_before = now_ns();
    int dumped_ok = rallo_dump(argv[2], "json");
    uint64_t dump_after = now_ns();
    pthread_barrier_wait(&dumped);
    pthread_join(b, NULL);
    printf("{\"temps\":%d,\"pairs\":%d,\"waited_lo\":%llu,\"waited_hi\":%llu,\"age_lo\":%llu,\"age_hi\":%llu,"
           "\"sizes\":[",
           temps, npairs, (unsigned long long)wait_lo, (unsigned long long)wait_hi,
           (unsigned long long)(dump_before - aged_after), (unsigned long long)(dump_after - aged_before));
    for (size_t i = 0; i < MIX_COUNT; i++)
        printf("%s%zu", i ? "," : "", mix_sizes[i]);
    printf("],\"alpha\":[%d,%d],\"beta\":[%d,%d,%d]}\n", ALPHA_ALLOCS, ALPHA_KEPT, BETA_ALLOCS, BETA_KEPT,
           BETA_FREED_BY_MAIN);
    free(alpha_kept[0]); /* (after the dump: the figures above stand) */
    return dumped_ok == 0 ? 0 : 1;
}
