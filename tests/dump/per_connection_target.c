/* per_connection_target.c - a process-per-connection server in miniature, run
 * under LD_PRELOAD=librallo.so with RALLO_DUMP_ON_EXIT=1: the parent forks N
 * short-lived children ("connections") and reaps them as PostgreSQL's
 * postmaster does, with waitpid(-1) in a loop, taking any pid it did not fork
 * for an error. Child i allocates i + 1 blocks of 1000 + i bytes at
 * connection_work() and exits with them live. Its destructor, which runs after
 * rallo's exit dump (atexit handlers run before the program's destructors),
 * records in DIR/maps.<pid> every library of a forbidden kind mapped at that
 * moment (libdw, libdebuginfod, curl, TLS, the HTTP server), or "clean".
 * Usage: per_connection_target N DIR; prints "children=N unknown=U" and one
 * "child I PID" line per child. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN_MAX 64

static const char *dir;

__attribute__((noinline)) static void *connection_work(size_t size) {
    void *p = malloc(size);
    __asm__ volatile("" ::"r"(p) : "memory");
    return p;
}

__attribute__((destructor)) static void record_maps(void) {
    if (dir == NULL)
        return;
    static const char *const forbidden[] = {"libdw",   "libdebuginfod", "libcurl",       "gnutls",
                                            "libssl",  "libcrypto",     "libmicrohttpd", "libkrb5",
                                            "libldap", "libnghttp",     "libssh"};
    char path[4200], line[4200];
    snprintf(path, sizeof path, "%s/maps.%ld", dir, (long)getpid());
    FILE *out = fopen(path, "w");
    FILE *maps = fopen("/proc/self/maps", "r");
    if (out == NULL || maps == NULL)
        _exit(3);
    int found = 0;
    while (fgets(line, sizeof line, maps) != NULL) {
        const char *name = strrchr(line, '/');
        for (size_t i = 0; name != NULL && i < sizeof forbidden / sizeof forbidden[0]; i++)
            if (strstr(name, forbidden[i]) != NULL) {
                fprintf(out, "%s", name + 1);
                found++;
                break;
            }
    }
    if (found == 0)
        fprintf(out, "clean\n");
    fclose(maps);
    fclose(out);
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    int n = atoi(argv[1]);
    if (n < 1 || n > CHILDREN_MAX)
        return 2;
    pid_t *children = calloc((size_t)n, sizeof *children);
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            dir = argv[2];
            static void *held[CHILDREN_MAX];
            for (int b = 0; b <= i && b < CHILDREN_MAX; b++)
                held[b] = connection_work(1000 + (size_t)i);
            __asm__ volatile("" ::"r"(held) : "memory");
            exit(0); /* the blocks stay live: the exit dump holds them */
        }
        if (pid < 0)
            return 1;
        children[i] = pid;
        printf("child %d %ld\n", i, (long)pid);
    }
    int reaped = 0, unknown = 0, failed = 0, status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, 0)) > 0) {
        int known = 0;
        for (int i = 0; i < n; i++)
            known |= children[i] == pid;
        if (!known)
            unknown++;
        else
            reaped++;
        failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    printf("children=%d unknown=%d failed=%d\n", reaped, unknown, failed);
    free(children);
    return 0;
}
