/* read_pprof_ids.c - the pprof reader's id index. pprof's ids are any
 * nonzero numbers, and they come from the file, so the index must not have a
 * worst case an attacker can choose (a fixed hash would let colliding ids make
 * it quadratic): ids 1..n, as every writer makes them, index an array
 * directly; any other set is radix-sorted (linear) and found by binary
 * search. */
#include <inttypes.h>

#include <mimalloc.h>

#include "read_pprof_internal.h"

bool rallo_pprof_ids_init(pprof_ids *x, size_t count) {
    if (count >= UINT32_MAX)
        return false;
    x->count = count;
    x->scratch = mi_mallocn(count ? count : 1, sizeof *x->scratch);
    return x->scratch != NULL;
}

void rallo_pprof_ids_free(pprof_ids *x) {
    mi_free(x->dense);
    mi_free(x->sorted);
    mi_free(x->scratch);
}

/* Least significant byte first, skipping the bytes every id shares. */
static bool radix_sort(pprof_id_entry **entries, size_t count) {
    uint64_t all_or = 0, all_and = ~(uint64_t)0;
    for (size_t i = 0; i < count; i++) {
        all_or |= (*entries)[i].id;
        all_and &= (*entries)[i].id;
    }
    pprof_id_entry *from = *entries, *to = mi_mallocn(count ? count : 1, sizeof *to);
    if (to == NULL)
        return false;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if ((((all_or ^ all_and) >> shift) & 0xff) == 0)
            continue;
        size_t start[257] = {0};
        for (size_t i = 0; i < count; i++)
            start[((from[i].id >> shift) & 0xff) + 1]++;
        for (size_t b = 1; b < 257; b++)
            start[b] += start[b - 1];
        for (size_t i = 0; i < count; i++)
            to[start[(from[i].id >> shift) & 0xff]++] = from[i];
        pprof_id_entry *swap = from;
        from = to;
        to = swap;
    }
    mi_free(to);
    *entries = from;
    return true;
}

/* Indexes the scratch entries (ids nonzero). false when out of memory, or
 * with *duplicate set to an id that appears twice. */
static bool id_index_build(pprof_ids *x, uint64_t *duplicate) {
    *duplicate = 0;
    bool dense = true;
    for (size_t i = 0; i < x->count && dense; i++)
        dense = x->scratch[i].id <= x->count;
    if (dense) {
        x->dense = mi_zalloc((x->count ? x->count : 1) * sizeof *x->dense);
        if (x->dense == NULL)
            return false;
        for (size_t i = 0; i < x->count; i++) {
            uint32_t *slot = &x->dense[x->scratch[i].id - 1];
            if (*slot != 0) {
                *duplicate = x->scratch[i].id;
                return false;
            }
            *slot = (uint32_t)x->scratch[i].index + 1;
        }
        mi_free(x->scratch);
        x->scratch = NULL;
        return true;
    }
    if (!radix_sort(&x->scratch, x->count))
        return false;
    x->sorted = x->scratch;
    x->scratch = NULL;
    for (size_t i = 1; i < x->count; i++)
        if (x->sorted[i].id == x->sorted[i - 1].id) {
            *duplicate = x->sorted[i].id;
            return false;
        }
    return true;
}

bool rallo_pprof_ids_get(const pprof_ids *x, uint64_t id, size_t *index) {
    if (x->dense != NULL) {
        if (id == 0 || id > x->count || x->dense[id - 1] == 0)
            return false;
        *index = x->dense[id - 1] - 1;
        return true;
    }
    size_t low = 0, high = x->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (x->sorted[mid].id < id)
            low = mid + 1;
        else
            high = mid;
    }
    if (low == x->count || x->sorted[low].id != id)
        return false;
    *index = x->sorted[low].index;
    return true;
}

bool rallo_pprof_ids_index(pprof_reader *r, pprof_ids *x, const char *what) {
    uint64_t duplicate = 0;
    if (id_index_build(x, &duplicate))
        return true;
    if (duplicate != 0)
        return rallo_pprof_fail(r, "%s id %" PRIu64 " appears twice", what, duplicate);
    return rallo_pprof_fail(r, "out of memory indexing %ss", what);
}
