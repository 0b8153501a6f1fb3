/* at_peak.c - programs whose peak the at-peak test (check_at_peak.py) knows:
 *   keep       grow_a / grow_b / grow_c: 6,000 blocks of 16 B .. 24 KiB
 *              (a fixed xorshift sequence), never freed; late_small: 300 x
 *              1 KiB (under 1% more, so no new copy of the sites is due); then
 *              a line on stdout, whose stdio buffer is the last allocation
 *   free_after the same, then every block freed and 1 MiB kept (tail_kept):
 *              the peak lies in the past
 * Built -O0 with frame pointers so each function is its own frame. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCKS 6000

static void *blocks[BLOCKS];
static void *tail;
static void *late[300];
static uint64_t state = 0x9e3779b97f4a7c15ull;

static size_t next_size(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return 16 + (size_t)(state % (24 * 1024));
}

__attribute__((noinline)) void *grow_a(size_t size) {
    return malloc(size);
}
__attribute__((noinline)) void *grow_b(size_t size) {
    return malloc(size);
}
__attribute__((noinline)) void *grow_c(size_t size) {
    return malloc(size);
}
__attribute__((noinline)) void late_small(void) {
    for (int i = 0; i < 300; i++)
        late[i] = malloc(1024);
}
__attribute__((noinline)) void tail_kept(void) {
    tail = malloc(1u << 20);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    void *(*grow[3])(size_t) = {grow_a, grow_b, grow_c};
    for (int i = 0; i < BLOCKS; i++)
        blocks[i] = grow[i % 3](next_size());
    if (strcmp(mode, "free_after") == 0) {
        for (int i = 0; i < BLOCKS; i++)
            free(blocks[i]);
        tail_kept();
    } else {
        late_small();
    }
    printf("done %s\n", mode);
    return 0;
}
