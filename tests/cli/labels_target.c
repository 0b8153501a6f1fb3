/* labels_target.c - the program test_labels.py runs: sites whose labels it
 * knows from the marker comments of this file. Built -O2 -g so that
 * cache_insert is inlined into main (its frames share one address) and
 * two_mallocs is one function with a malloc on each of two lines.
 *   (no argument)   SITE_A: 10 x 64 B kept; SITE_B: 3 x 1000 B; SITE_C:
 *                   1 x 2000 B kept; then SITE_B's blocks freed
 *   steps DIR       SITE_A: 10 x 64 B; SITE_B: 1 x 1000 B; SITE_C: 1 x 3000 B;
 *                   dump DIR/rallo.<pid>.1.pb.gz; SITE_B: 4 x 1000 B more;
 *                   dump DIR/rallo.<pid>.2.pb.gz; everything stays live */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *volatile kept[64];
volatile int nkept;

static inline __attribute__((always_inline)) void cache_insert(size_t size) {
    kept[nkept++] = malloc(size); /* SITE_A */
}

__attribute__((noinline)) void two_mallocs(int b, int c, size_t b_size, size_t c_size) {
    for (int i = 0; i < b; i++)
        kept[nkept++] = malloc(b_size); /* SITE_B */
    for (int i = 0; i < c; i++)
        kept[nkept++] = malloc(c_size); /* SITE_C */
}

static void dump(const char *dir, int seq) {
    int (*rallo_dump)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_DEFAULT, "rallo_dump");
    char path[4096];
    snprintf(path, sizeof path, "%s/rallo.%d.%d.pb.gz", dir, (int)getpid(), seq);
    if (rallo_dump == NULL || rallo_dump(path, "pprof") != 0) {
        fprintf(stderr, "labels_target: cannot dump %s\n", path);
        exit(90);
    }
}

int main(int argc, char **argv) {
    for (int i = 0; i < 10; i++)
        cache_insert(64); /* CALL_A */
    if (argc > 2 && strcmp(argv[1], "steps") == 0) {
        /* One call of two_mallocs for both steps (a volatile bound keeps the
         * loop a loop), so each of its lines is one stack in both dumps. */
        static const int b_count[2] = {1, 4}, c_count[2] = {1, 0};
        static volatile int steps = 2;
        for (int step = 0; step < steps; step++) {
            two_mallocs(b_count[step], c_count[step], 1000, 3000);
            dump(argv[2], step + 1);
        }
        return 0;
    }
    int first_b = nkept;
    two_mallocs(3, 1, 1000, 2000);
    for (int i = first_b; i < first_b + 3; i++)
        free(kept[i]);
    return 0;
}
