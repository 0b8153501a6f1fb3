/* sampling_accuracy.c - a program whose allocations are known exactly, for
 * sampling_accuracy.py: known_site allocates COUNT blocks of SIZE bytes and
 * keeps every other one (live: COUNT/2 blocks), nothing else of note. */
#include <stdlib.h>

#define MAX_BLOCKS 10000000

/* Not on the heap (known_site's bytes are exactly its blocks), and global so the
 * compiler keeps every malloc and free. */
void *blocks[MAX_BLOCKS];

__attribute__((noinline)) static void known_site(long count, size_t size) {
    for (long i = 0; i < count; i++) {
        blocks[i] = malloc(size);
        if (i % 2 == 1)
            free(blocks[i]);
    }
}

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 500000;
    if (count < 0 || count > MAX_BLOCKS)
        count = MAX_BLOCKS;
    size_t size = argc > 2 ? (size_t)atol(argv[2]) : 128;
    known_site(count, size);
    return 0;
}
