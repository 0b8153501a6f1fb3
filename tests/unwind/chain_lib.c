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

/* Enough small functions that, built with frame pointers, the library counts
 * as a frame-pointer module (RALLO_UNWIND=auto then steps through its frame
 * records) despite the few toolchain stubs without them. */
__attribute__((noinline)) int chain_lib_callee(int x) {
    return x + chain_lib_sink;
}
#define FILLER(n)                                                                                            \
    __attribute__((noinline)) int chain_lib_filler##n(int x) {                                               \
        return x * n + chain_lib_callee(x);                                                                  \
    }
/* Each FILLER expands to a whole function definition */
/* clang-format off */
FILLER(1) FILLER(2) FILLER(3) FILLER(4) FILLER(5) FILLER(6) FILLER(7) FILLER(8) FILLER(9) FILLER(10)
FILLER(11) FILLER(12) FILLER(13) FILLER(14) FILLER(15) FILLER(16) FILLER(17) FILLER(18) FILLER(19)
FILLER(20) FILLER(21) FILLER(22) FILLER(23) FILLER(24) FILLER(25) FILLER(26) FILLER(27) FILLER(28)
FILLER(29) FILLER(30) FILLER(31) FILLER(32) FILLER(33) FILLER(34) FILLER(35) FILLER(36)
void *lib_level2(size_t size);
/* clang-format on */

__attribute__((noinline)) void *lib_level2(size_t size) {
    void *p = prog_level3(size);
    chain_lib_sink = 2;
    return p;
}
