/* fuzz_mi_shim.c - the few mimalloc calls the pprof reader makes, forwarded to
 * malloc for the fuzz build only, so AddressSanitizer watches every block the
 * reader touches (mimalloc's own blocks are invisible to it). */
#include <malloc.h>
#include <stdlib.h>

#include <mimalloc.h>

void *mi_malloc(size_t size) {
    return malloc(size);
}

void *mi_zalloc(size_t size) {
    return calloc(1, size ? size : 1);
}

void *mi_mallocn(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    return malloc(count * size);
}

void *mi_realloc(void *p, size_t newsize) {
    return realloc(p, newsize);
}

void mi_free(void *p) {
    free(p);
}

size_t mi_usable_size(const void *p) {
    return p ? malloc_usable_size((void *)p) : 0;
}
