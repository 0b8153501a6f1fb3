/* chain_lib.c - the library half of the test call chain: levels 2, 4 and 6
 * (6 calls malloc), built with or without frame pointers. The program's
 * levels 1, 3 and 5 call in here and are called back from here. */
#include <stdlib.h>

void *prog_level3(size_t size);
void *prog_level5(size_t size);

/* The volatile store after each call keeps it from becoming a tail jump. */
volatile int chain_lib_sink;

__attribute__((noinline)) void *lib_level6(size_t size) {
    volatile char pad[48];
    pad[0] = 6;
    void *p = malloc(size);
    chain_lib_sink = pad[0];
    return p;
}

__attribute__((noinline)) void *lib_level4(size_t size) {
    volatile char pad[80];
    pad[0] = 4;
    void *p = prog_level5(size);
    chain_lib_sink = pad[0];
    return p;
}

__attribute__((noinline)) void *lib_level2(size_t size) {
    void *p = prog_level3(size);
    chain_lib_sink = 2;
    return p;
}
