/* util/index.h - an open-addressing index over the elements of an array a
 * caller keeps: each slot holds an element's position + 1 (0: empty). The
 * caller hashes and compares its own keys, so one index serves strings, pairs
 * and stacks alike. It is never iterated: output follows the array's order. */
#ifndef RALLO_UTIL_INDEX_H
#define RALLO_UTIL_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rallo_index {
    uint32_t *slots;
    size_t nslots; /* a power of two; 0 before the first reserve */
} rallo_index;

/* The hash of the key of element `element` of the caller's array `owner`. */
typedef uint64_t (*rallo_index_hash_fn)(const void *owner, size_t element);

/* Makes room to add one element to `count` while keeping the index at most
 * half full: when full, doubles it (from `first_slots`, a power of two) and
 * puts elements [from, count) back by hash. False when out of memory (or past
 * 2^32 elements); the index is then as it was. */
bool rallo_index_reserve(rallo_index *x, size_t count, size_t from, size_t first_slots,
                         rallo_index_hash_fn hash, const void *owner);

/* Replaces the index by one of nslots slots (a power of two, over twice
 * count) holding elements [from, count). False when out of memory. */
bool rallo_index_rebuild(rallo_index *x, size_t nslots, size_t from, size_t count, rallo_index_hash_fn hash,
                         const void *owner);

void rallo_index_free(rallo_index *x);

/* Probing: start at rallo_index_slot(x, hash), step with rallo_index_next
 * while x->slots[slot] != 0 (element x->slots[slot] - 1); a zero slot is where
 * a new element goes (x->slots[slot] = position + 1). */
static inline size_t rallo_index_slot(const rallo_index *x, uint64_t hash) {
    return (size_t)hash & (x->nslots - 1);
}

static inline size_t rallo_index_next(const rallo_index *x, size_t slot) {
    return (slot + 1) & (x->nslots - 1);
}

#endif
