/* limits_target.c - what a program gets under rallo, run by test_limits.sh
 * with librallo preloaded (or not): rallo's API is looked up at run time.
 *   limits_target fill    1 MiB blocks, each touched, until malloc fails
 *   limits_target small   100 blocks of 100 bytes at one site
 * Prints "blocks N enabled E tracked T": N blocks, rallo_is_enabled() (-1
 * without rallo), the allocations rallo counted. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rallo.h>

static void report(long blocks) {
    int (*is_enabled)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "rallo_is_enabled");
    void (*get_totals)(rallo_totals *) = (void (*)(rallo_totals *))dlsym(RTLD_DEFAULT, "rallo_get_totals");
    rallo_totals totals;
    memset(&totals, 0, sizeof totals);
    if (get_totals != NULL)
        get_totals(&totals);
    printf("blocks %ld enabled %d tracked %llu\n", blocks, is_enabled != NULL ? is_enabled() : -1,
           (unsigned long long)totals.alloc_count);
}

__attribute__((noinline)) static void *site(size_t size) {
    return malloc(size);
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    if (strcmp(argv[1], "fill") == 0) {
        long blocks = 0;
        /* Held until the end on purpose: how many fit is the point. */
        for (char *p; blocks < 1000000 && (p = site(1 << 20)) != NULL; blocks++)
            p[0] = p[(1 << 20) - 1] = 1;
        report(blocks); // NOLINT(clang-analyzer-unix.Malloc): the blocks are held on purpose
        return 0;
    }
    if (strcmp(argv[1], "small") == 0) {
        void *blocks[100];
        for (int i = 0; i < 100; i++)
            blocks[i] = site(100);
        report(100);
        for (int i = 0; i < 100; i++)
            free(blocks[i]);
        return 0;
    }
    return 2;
}
