/* util/array.c - a growable array's growing step (see array.h). */
#include "util/array.h"

#include <stdint.h>

#include <mimalloc.h>

bool rallo_array_reserve(void **array, size_t *cap, size_t need, size_t size, size_t first) {
    if (need <= *cap)
        return true;
    size_t fresh = *cap ? *cap : (first ? first : 1);
    while (fresh < need) {
        if (fresh > SIZE_MAX / 2)
            return false;
        fresh *= 2;
    }
    if (size != 0 && fresh > SIZE_MAX / size)
        return false;
    void *grown = mi_realloc(*array, fresh * size);
    if (grown == NULL)
        return false;
    *array = grown;
    *cap = fresh;
    return true;
}
