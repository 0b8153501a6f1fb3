/* dl_lib.c - a library the dlopen test loads and unloads in a loop: two
 * levels around a call back into the program, built without frame pointers. */
#include <stdlib.h>

typedef void *(*dl_callback)(void *(*inner)(size_t), size_t size);

volatile int dl_lib_sink;

__attribute__((noinline)) void *dl_level_b(size_t size) {
    volatile char pad[40];
    pad[0] = 2;
    void *p = malloc(size);
    dl_lib_sink = pad[0];
    return p;
}

__attribute__((noinline)) void *dl_level_a(dl_callback callback, size_t size) {
    volatile char pad[120];
    pad[0] = 1;
    void *p = callback(dl_level_b, size);
    dl_lib_sink = pad[0];
    return p;
}
