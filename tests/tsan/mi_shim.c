/* mi_shim.c - the mimalloc calls tracking/ makes, forwarded to malloc for the
 * ThreadSanitizer harness only: TSan then sees every block tracking/ allocates
 * for itself (mimalloc's internals are not instrumented), and this program's
 * malloc stays TSan's own. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>

void *mi_malloc(size_t size) {
    return malloc(size);
}

void *mi_zalloc(size_t size) {
    return calloc(1, size ? size : 1);
}

void *mi_zalloc_aligned(size_t size, size_t alignment) {
    void *p = NULL;
    if (alignment < sizeof(void *))
        alignment = sizeof(void *);
    if (posix_memalign(&p, alignment, size ? size : 1) != 0)
        return NULL;
    memset(p, 0, size);
    return p;
}

void *mi_realloc(void *p, size_t newsize) {
    return realloc(p, newsize);
}

void mi_free(void *p) {
    free(p);
}
