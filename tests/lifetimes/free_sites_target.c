/* free_sites_target.c - a program that knows who frees its blocks: run as
 * `free_sites_target OUT.json [OUT.txt]`, it allocates blocks at two sites and frees
 * them from three functions in known numbers (one of them on another thread),
 * dumps rallo's JSON report to OUT.json (and text to OUT.txt) and prints the truth (JSON) on
 * stdout. check_free_sites.py compares the two. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "rallo.h"

#define SMALL_SIZE 48
#define LARGE_SIZE 5000 /* past 4 KiB: a block with a link record, freed the long way */
#define BY_FIRST 300
#define BY_SECOND 200
#define BY_THREAD 100
#define LARGE_BY_FIRST 10
#define SMALL_BLOCKS (BY_FIRST + BY_SECOND + BY_THREAD)

/* Read after each free, so that no free is a tail call: the freeing
 * function keeps its frame, and the free stack names it. */
volatile int frees_done;

__attribute__((noinline)) void *small_alloc(void) {
    void *p = malloc(SMALL_SIZE);
    frees_done += 0;
    return p;
}
__attribute__((noinline)) void *large_alloc(void) {
    void *p = malloc(LARGE_SIZE);
    frees_done += 0;
    return p;
}
__attribute__((noinline)) void first_freer(void *p) {
    free(p);
    frees_done++;
}
__attribute__((noinline)) void second_freer(void *p) {
    free(p);
    frees_done++;
}
__attribute__((noinline)) void thread_freer(void *p) {
    free(p);
    frees_done++;
}

static void *blocks[SMALL_BLOCKS];

static void *freeing_thread(void *arg) {
    (void)arg;
    for (int i = BY_FIRST + BY_SECOND; i < SMALL_BLOCKS; i++)
        thread_freer(blocks[i]);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2 || rallo_enable() != 0)
        return 1;
    for (int i = 0; i < SMALL_BLOCKS; i++)
        blocks[i] = small_alloc();
    for (int i = 0; i < BY_FIRST; i++)
        first_freer(blocks[i]);
    for (int i = BY_FIRST; i < BY_FIRST + BY_SECOND; i++)
        second_freer(blocks[i]);
    pthread_t thread;
    pthread_create(&thread, NULL, freeing_thread, NULL);
    pthread_join(thread, NULL);
    for (int i = 0; i < LARGE_BY_FIRST; i++)
        first_freer(large_alloc());
    int dumped = rallo_dump(argv[1], "json");
    if (argc > 2 && dumped == 0) /* the text report too */
        dumped = rallo_dump(argv[2], "text");
    printf("{\"small_size\":%d,\"large_size\":%d,\"by_first\":%d,\"by_second\":%d,\"by_thread\":%d,"
           "\"large_by_first\":%d}\n",
           SMALL_SIZE, LARGE_SIZE, BY_FIRST, BY_SECOND, BY_THREAD, LARGE_BY_FIRST);
    return dumped == 0 ? 0 : 1;
}
