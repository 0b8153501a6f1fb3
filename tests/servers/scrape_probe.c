/* scrape_probe.c - a service scraped the way Grafana Alloy and Parca scrape:
 * linked with rallo, tracking every allocation, it allocates only when told
 * (stdin "a N": N blocks of 4096 bytes at probe_site, each freed at once,
 * then "done N" on stdout), so the test knows exactly what a delta between
 * two scrapes must hold. "ready" once up; exits when stdin closes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_BLOCK 4096

__attribute__((noinline)) static void *probe_site(size_t size) {
    void *block = malloc(size);
    __asm__ volatile("" : : "r"(block) : "memory"); /* not optimized away */
    return block;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    puts("ready");
    char line[64];
    while (fgets(line, sizeof line, stdin) != NULL) {
        long n = 0;
        if (sscanf(line, "a %ld", &n) != 1 || n < 0)
            continue;
        for (long i = 0; i < n; i++) {
            void *block = probe_site(PROBE_BLOCK);
            memset(block, 1, 16);
            free(block);
        }
        printf("done %ld\n", n);
    }
    return 0;
}
