/* util/array.h - a growable array's one growing step: doubling, on mimalloc. */
#ifndef RALLO_UTIL_ARRAY_H
#define RALLO_UTIL_ARRAY_H

#include <stdbool.h>
#include <stddef.h>

/* Makes room for `need` elements of `size` bytes in *array, whose capacity is
 * *cap: doubles it (from `first` when 0) until need fits. False when out of
 * memory or when the bytes would overflow; *array and *cap are then as they were. */
bool rallo_array_reserve(void **array, size_t *cap, size_t need, size_t size, size_t first);

#endif
