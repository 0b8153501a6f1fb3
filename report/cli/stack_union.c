/* stack_union.c - several profiles' sites as one profile, each distinct
 * stack once (see stack_union.h). */
#include <stdint.h>
#include <string.h>

#include <mimalloc.h>

#include "util/array.h"
#include "label.h"
#include "stack_union.h"
#include "util/hash.h"

void stack_union_init(stack_union *u) {
    memset(u, 0, sizeof *u);
    rallo_profile_init(&u->profile);
    u->seed = rallo_hash_seed();
}

static uint64_t key_hash(const void *owner, size_t site) {
    const stack_union *u = owner;
    return rallo_hash_string(u->seed, u->keys[site]);
}

/* A site's key: its frames root first, each inlined function a frame of its
 * own, as "function (file:line)", or "module+0xOFFSET" where unnamed: two
 * calls in one function are two sites, and a stack matches across runs
 * though its addresses moved. */
static void site_key(const rallo_profile *profile, const rallo_prof_site *site, rallo_buf *key) {
    for (uint32_t k = site->nlocations; k-- > 0;) {
        const rallo_prof_location *location = &profile->locations[site->locations[k]];
        if (location->nlines == 0) {
            rallo_label_address(key, profile, location);
            rallo_buf_putc(key, '\n');
        }
        for (uint32_t j = location->nlines; j-- > 0;) {
            rallo_label_line(key, &location->lines[j], false);
            rallo_buf_putc(key, '\n');
        }
    }
}

/* The union index of a dump's site, adding it (with copies of its locations
 * and the dump's mappings from mapping_base on) the first time its stack is
 * seen. SIZE_MAX when memory ran out. */
size_t stack_union_add(stack_union *u, const rallo_profile *dump, size_t mapping_base,
                       const rallo_prof_site *site) {
    rallo_buf key;
    rallo_buf_init(&key);
    site_key(dump, site, &key);
    rallo_buf_putc(&key, '\0');
    if (key.failed || !rallo_index_reserve(&u->index, u->profile.nsites, 0, 1024, key_hash, u)) {
        rallo_buf_free(&key);
        return SIZE_MAX;
    }
    size_t slot = rallo_index_slot(&u->index, rallo_hash_string(u->seed, key.data));
    for (; u->index.slots[slot] != 0; slot = rallo_index_next(&u->index, slot)) {
        size_t index = u->index.slots[slot] - 1;
        if (strcmp(u->keys[index], key.data) == 0) {
            rallo_buf_free(&key);
            return index;
        }
    }
    rallo_profile *p = &u->profile;
    size_t cap_keys = u->cap_sites;
    if (!rallo_array_reserve((void **)&p->sites, &u->cap_sites, p->nsites + 1, sizeof *p->sites, 256) ||
        !rallo_array_reserve((void **)&u->keys, &cap_keys, u->cap_sites, sizeof *u->keys, 256) ||
        !rallo_array_reserve((void **)&p->locations, &u->cap_locations, p->nlocations + site->nlocations,
                             sizeof *p->locations, 256)) {
        rallo_buf_free(&key);
        return SIZE_MAX;
    }
    uint32_t *locations = rallo_profile_alloc(p, (site->nlocations + 1) * sizeof *locations);
    if (locations == NULL) {
        rallo_buf_free(&key);
        return SIZE_MAX;
    }
    for (uint32_t i = 0; i < site->nlocations; i++) {
        rallo_prof_location location = dump->locations[site->locations[i]];
        if (location.mapping != RALLO_NO_MAPPING)
            location.mapping = (uint32_t)(mapping_base + location.mapping);
        locations[i] = (uint32_t)p->nlocations;
        p->locations[p->nlocations++] = location;
    }
    size_t index = p->nsites++;
    p->sites[index] = (rallo_prof_site){.nlocations = site->nlocations, .locations = locations};
    u->keys[index] = key.data;
    u->index.slots[slot] = (uint32_t)index + 1;
    return index;
}

void stack_union_free(stack_union *u) {
    for (size_t i = 0; i < u->profile.nsites; i++)
        mi_free(u->keys[i]);
    mi_free(u->keys);
    rallo_index_free(&u->index);
    mi_free(u->profile.sites);
    mi_free(u->profile.locations);
    mi_free(u->profile.mappings);
    u->profile.sites = NULL;
    u->profile.locations = NULL;
    u->profile.mappings = NULL;
    rallo_profile_free(&u->profile);
}

/* Adds a dump's mappings to the union's; returns the index of its first. */
bool stack_union_add_mappings(stack_union *u, const rallo_profile *dump, size_t *base) {
    rallo_profile *p = &u->profile;
    if (!rallo_array_reserve((void **)&p->mappings, &u->cap_mappings, p->nmappings + dump->nmappings + 1,
                             sizeof *p->mappings, 256))
        return false;
    *base = p->nmappings;
    for (size_t i = 0; i < dump->nmappings; i++)
        p->mappings[p->nmappings++] = dump->mappings[i];
    return true;
}

bool stack_union_reorder(stack_union *u, const size_t *order) {
    rallo_profile *p = &u->profile;
    rallo_prof_site *sites = mi_malloc((p->nsites + 1) * sizeof *sites);
    char **keys = mi_malloc((p->nsites + 1) * sizeof *keys);
    rallo_prof_location *locations = mi_malloc((p->nlocations + 1) * sizeof *locations);
    rallo_index index = {0};
    if (sites != NULL && keys != NULL) {
        for (size_t i = 0; i < p->nsites; i++)
            keys[i] = u->keys[order[i]];
        /* The new index, built before anything changes: keyed by the new order. */
        stack_union reordered = *u;
        reordered.keys = keys;
        (void)rallo_index_rebuild(&index, u->index.nslots ? u->index.nslots : 1024, 0, p->nsites, key_hash,
                                  &reordered);
    }
    if (sites == NULL || keys == NULL || locations == NULL || index.slots == NULL) {
        mi_free(sites);
        mi_free(keys);
        mi_free(locations);
        rallo_index_free(&index);
        return false;
    }
    size_t nlocations = 0;
    for (size_t i = 0; i < p->nsites; i++) {
        sites[i] = p->sites[order[i]];
        /* Every site has an index array of its own (stack_union_add): renumber it in place. */
        for (uint32_t k = 0; k < sites[i].nlocations; k++) {
            locations[nlocations] = p->locations[sites[i].locations[k]];
            sites[i].locations[k] = (uint32_t)nlocations++;
        }
    }
    mi_free(p->sites);
    mi_free(u->keys);
    mi_free(p->locations);
    p->sites = sites;
    u->keys = keys;
    p->locations = locations;
    u->cap_sites = p->nsites + 1;
    u->cap_locations = p->nlocations + 1;
    rallo_index_free(&u->index);
    u->index = index;
    return true;
}
