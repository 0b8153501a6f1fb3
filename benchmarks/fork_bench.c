/* fork_bench.c - how long fork() takes while periodic dumps run: 65,536
 * distinct call sites hold a block each, rallo dumps every INTERVAL seconds,
 * and the main thread forks in a loop (the child _exits at once), timing each
 * fork() call in the parent. Prints p50, p99 and the maximum, without dumps
 * and then with them. fork() waits for whatever dump work its atfork handler
 * waits for, so this is the latency a pre-fork server sees.
 * Usage: fork_bench [SECONDS] [INTERVAL] [FORMATS] - links librallo, tracks
 * from the start, dumps into a fresh directory under /tmp (removed after). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "distinct_stacks.h"
#include "rallo.h"

#define SITES 65536
#define MAX_FORKS 200000

static double clock_ms(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
static double now_ms(void) {
    return clock_ms(CLOCK_MONOTONIC);
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Forks for `seconds`, timing each fork() in the parent; prints the figures:
 * wall time (what the caller waits), and the forking thread's own CPU time (on
 * a loaded machine the difference is time spent waiting for a CPU or a lock). */
static void fork_loop(const char *label, double seconds, double *times, double *cpu) {
    size_t n = 0;
    double end = now_ms() + seconds * 1e3;
    while (now_ms() < end && n < MAX_FORKS) {
        double start = now_ms(), start_cpu = clock_ms(CLOCK_THREAD_CPUTIME_ID);
        pid_t pid = fork();
        double took = now_ms() - start;
        if (pid > 0)
            cpu[n] = clock_ms(CLOCK_THREAD_CPUTIME_ID) - start_cpu;
        if (pid == 0)
            _exit(0);
        if (pid < 0) {
            perror("fork");
            exit(1);
        }
        times[n++] = took;
        waitpid(pid, NULL, 0);
        usleep(2000); /* a server forks now and then, not back to back */
    }
    qsort(times, n, sizeof *times, compare_double);
    qsort(cpu, n, sizeof *cpu, compare_double);
    printf("%-16s forks %5zu  wall p50 %7.3f  p99 %8.3f  max %8.3f ms;  cpu p50 %6.3f  p99 %6.3f ms\n", label,
           n, times[n / 2], times[(size_t)((double)n * 0.99)], times[n - 1], cpu[n / 2],
           cpu[(size_t)((double)n * 0.99)]);
}

static int count_dumps(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, "rallo.", 6) == 0;
    if (d != NULL)
        closedir(d);
    return n;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    double interval = argc > 2 ? atof(argv[2]) : 0.2;
    const char *formats = argc > 3 ? argv[3] : "html,pprof";
    if (rallo_enable() != 0) {
        perror("rallo_enable");
        return 1;
    }
    static void *blocks[SITES];
    for (unsigned code = 0; code < SITES; code++)
        blocks[code] = stack_malloc(code, 5, 16 + code % 64);
    rallo_totals totals;
    rallo_get_totals(&totals);
    printf("sites %d, live blocks %llu, dumps every %.2f s (%s)\n", SITES,
           (unsigned long long)totals.live_count, interval, formats);

    double *times = malloc(MAX_FORKS * sizeof *times), *cpu = malloc(MAX_FORKS * sizeof *cpu);
    fork_loop("no dumps", seconds / 2, times, cpu);

    char dir[] = "/tmp/rallo-fork-bench-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    double start = now_ms();
    rallo_dump_every(interval, dir, formats);
    fork_loop("periodic dumps", seconds, times, cpu);
    rallo_dump_every(0, NULL, NULL);
    double elapsed = (now_ms() - start) / 1e3;
    sleep(3); /* the last dump and its helpers */
    printf("%d dump files in %.1f s\n", count_dumps(dir), elapsed);

    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    for (unsigned code = 0; code < SITES; code++)
        free(blocks[code]);
    free(times);
    free(cpu);
    return 0;
}
