/* misuse_target.c - one memory error of a buggy host program, then enough
 * allocation to show whether the heap survived it. Run by test_misuse.c under
 * bare mimalloc and under librallo (tracking off and on), never linked with
 * rallo: rallo's counters are looked up at run time when it is there.
 *   misuse_target CASE SIZE [OFFSET]
 * CASE: double_free, interior_free (free(p + OFFSET)), write_before
 * (p[-OFFSET] = 'x', then free(p)), past_end (p[SIZE] = 'x', then free of p and
 * its neighbours), realloc_freed, free_stack, free_static, free_mmap.
 * Then a few allocations ("light" printed after them), then many whose bytes
 * are checked: prints "survived <bad_header or -1> <heap sound 1|0>" and exits
 * 0 when the heap afterwards hands out blocks that do not overlap, 4 when it
 * does not; a crash is a signal. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* For rallo_untracked's layout only: the function is found at run time. */
#include <rallo.h>

static long long bad_headers(void) {
    void (*get)(rallo_untracked *) = (void (*)(rallo_untracked *))dlsym(RTLD_DEFAULT, "rallo_get_untracked");
    if (get == NULL)
        return -1;
    rallo_untracked untracked;
    memset(&untracked, 0, sizeof untracked);
    get(&untracked);
    return (long long)untracked.bad_header;
}

/* The compiler must not see through what these do with the pointers. */
static void *opaque(void *p) {
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}

/* Blocks of mixed sizes, each filled with its own byte and checked after all
 * are made: two blocks handed out over each other show as a wrong byte. */
static int heap_sound(size_t size) {
    enum { BLOCKS = 2000, ROUNDS = 2 };
    static unsigned char *blocks[BLOCKS];
    static size_t sizes[BLOCKS];
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < BLOCKS; i++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            sizes[i] = i % 3 == 0 ? size : 1 + (size_t)(rng % 512);
            blocks[i] = malloc(sizes[i]);
            if (blocks[i] == NULL)
                return 0;
            memset(blocks[i], i & 0xff, sizes[i]);
        }
        for (int i = 0; i < BLOCKS; i++)
            for (size_t k = 0; k < sizes[i]; k++)
                if (blocks[i][k] != (unsigned char)(i & 0xff))
                    return 0;
        for (int i = 0; i < BLOCKS; i++)
            free(blocks[i]);
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    const char *what = argv[1];
    size_t size = strtoull(argv[2], NULL, 10);
    size_t offset = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    static char static_block[64] __attribute__((aligned(16)));
    char stack_block[64] __attribute__((aligned(16)));
    memset(stack_block, 0, sizeof stack_block);

    if (strcmp(what, "double_free") == 0) {
        char *p = malloc(size);
        free(p);
        free(opaque(p));
    } else if (strcmp(what, "interior_free") == 0) {
        char *p = malloc(size);
        memset(p, 1, size);
        free(opaque(p + offset));
        free(p);
    } else if (strcmp(what, "write_before") == 0) {
        char *p = malloc(size);
        ((char *)opaque(p))[-(ptrdiff_t)offset] = 'x';
        free(p);
    } else if (strcmp(what, "past_end") == 0) {
        char *before = malloc(size), *p = malloc(size), *after = malloc(size);
        memset(before, 1, size);
        memset(after, 1, size);
        ((char *)opaque(p))[size] = 'x';
        free(after);
        free(p);
        free(before);
    } else if (strcmp(what, "realloc_freed") == 0) {
        char *p = malloc(size);
        free(p);
        char *q = realloc(opaque(p), size * 2);
        if (q != NULL)
            memset(q, 2, size * 2);
        free(q);
    } else if (strcmp(what, "free_stack") == 0) {
        free(opaque(stack_block));
    } else if (strcmp(what, "free_static") == 0) {
        free(opaque(static_block));
    } else if (strcmp(what, "free_mmap") == 0) {
        void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        free(opaque((char *)page + 16));
    } else {
        return 2;
    }
    printf("done\n");
    fflush(stdout);
    /* What a program does next, as the reproducer did: a few blocks
     * made, written and freed; then the heavy check. */
    for (int round = 0; round < 4; round++) {
        char *few[8];
        for (int i = 0; i < 8; i++) {
            few[i] = malloc(i % 2 == 0 ? size : 24 + 40 * (size_t)i);
            memset(few[i], i, i % 2 == 0 ? size : 24 + 40 * (size_t)i);
        }
        for (int i = 0; i < 8; i++)
            free(few[i]);
    }
    printf("light\n");
    fflush(stdout);
    int sound = heap_sound(size);
    printf("survived %lld %d\n", bad_headers(), sound);
    fflush(stdout);
    return sound ? 0 : 4;
}
