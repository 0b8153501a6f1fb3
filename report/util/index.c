/* util/index.c - the open-addressing index's growing (see index.h). */
#include "util/index.h"

#include <mimalloc.h>

bool rallo_index_rebuild(rallo_index *x, size_t nslots, size_t from, size_t count, rallo_index_hash_fn hash,
                         const void *owner) {
    if (count >= UINT32_MAX || nslots <= count || (nslots & (nslots - 1)) != 0)
        return false;
    uint32_t *slots = mi_zalloc(nslots * sizeof *slots);
    if (slots == NULL)
        return false;
    for (size_t i = from; i < count; i++) {
        size_t slot = (size_t)hash(owner, i) & (nslots - 1);
        while (slots[slot] != 0)
            slot = (slot + 1) & (nslots - 1);
        slots[slot] = (uint32_t)i + 1;
    }
    mi_free(x->slots);
    x->slots = slots;
    x->nslots = nslots;
    return true;
}

bool rallo_index_reserve(rallo_index *x, size_t count, size_t from, size_t first_slots,
                         rallo_index_hash_fn hash, const void *owner) {
    if (count < SIZE_MAX / 4 && (count + 1) * 2 <= x->nslots)
        return true;
    size_t nslots = x->nslots ? x->nslots * 2 : first_slots;
    while (nslots < SIZE_MAX / 4 && (count + 1) * 2 > nslots)
        nslots *= 2;
    return rallo_index_rebuild(x, nslots, from, count, hash, owner);
}

void rallo_index_free(rallo_index *x) {
    mi_free(x->slots);
    x->slots = NULL;
    x->nslots = 0;
}
