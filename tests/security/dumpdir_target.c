/* dumpdir_target.c - the host test_dumpdir.py runs under LD_PRELOAD=librallo.so
 * (not linked against it). It holds 1000 blocks of 1000 bytes from one known
 * function, then does what its first argument says:
 *   wait              prints "pid=<pid>", waits for a line on stdin, exits 0
 *   forks SECONDS     prints "pid=<pid>", waits for a line on stdin, then forks
 *                     (the child exits at once) for SECONDS; prints
 *                     "forks=<n> max_ms=<slowest fork>"
 *   worker            forks a child that becomes nobody (setgid/setuid 65534),
 *                     allocates and exits 0; waits for it and prints
 *                     "parent=<pid> child=<pid> status=<exit code>", exits 0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *known_blocks[1000];

__attribute__((noinline)) static void hold_known_blocks(void) {
    for (int i = 0; i < 1000; i++) {
        known_blocks[i] = malloc(1000);
        memset(known_blocks[i], 1, 1000);
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void announce_and_wait(void) {
    printf("pid=%ld\n", (long)getpid());
    fflush(stdout);
    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL)
        exit(3);
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    hold_known_blocks();
    if (strcmp(argv[1], "wait") == 0) {
        announce_and_wait();
        return 0;
    }
    if (strcmp(argv[1], "forks") == 0 && argc >= 3) {
        announce_and_wait();
        double end = now() + atof(argv[2]), slowest = 0;
        int forks = 0;
        while (now() < end) {
            double start = now();
            pid_t child = fork();
            if (child == 0)
                _exit(0);
            double took = now() - start;
            slowest = took > slowest ? took : slowest;
            if (child > 0) {
                waitpid(child, NULL, 0);
                forks++;
            }
            usleep(20 * 1000);
        }
        printf("forks=%d max_ms=%.1f\n", forks, slowest * 1e3);
        return 0;
    }
    if (strcmp(argv[1], "worker") == 0) {
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(4);
            hold_known_blocks();
            exit(0); /* exit(), not _exit(): the exit dump runs */
        }
        int status = 0;
        waitpid(child, &status, 0);
        printf("parent=%ld child=%ld status=%d\n", (long)getpid(), (long)child,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }
    return 2;
}
