/* snapshot-free-sites.c - who frees, in a snapshot (RALLO_FREE_SITES): the
 * (allocation site, free site) pairs of every thread's table
 * (tracking/free_sites.h) summed, each site given the stacks that freed its
 * blocks, those stacks' frames added to the profile's locations. Read while
 * threads go on, like the counters: a pair just made may show nothing yet. */
#include <stdlib.h>
#include <string.h>

#include <mimalloc.h>

#include "../util/array.h"
#include "../../tracking/door.h" /* and free_sites.h, its types */
#include "snapshot.h"

/* The pairs summed over the tables: open addressing on the pair's key. */
typedef struct pair_sum {
    uint64_t key, count_weight, bytes, cross_weight;
} pair_sum;
typedef struct pair_map {
    pair_sum *slots;
    size_t mask, used;
} pair_map;

static size_t slot_of(uint64_t key, size_t mask) {
    uint64_t hash = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(hash ^ (hash >> 31)) & mask;
}

static bool pair_map_grow(pair_map *map) {
    size_t slots = map->slots != NULL ? 2 * (map->mask + 1) : 1024;
    pair_sum *fresh = mi_zalloc(slots * sizeof *fresh);
    if (fresh == NULL)
        return false;
    for (size_t i = 0; map->slots != NULL && i <= map->mask; i++) {
        if (map->slots[i].key == 0)
            continue;
        size_t at = slot_of(map->slots[i].key, slots - 1);
        while (fresh[at].key != 0)
            at = (at + 1) & (slots - 1);
        fresh[at] = map->slots[i];
    }
    mi_free(map->slots);
    map->slots = fresh;
    map->mask = slots - 1;
    return true;
}

static bool pair_add(pair_map *map, const rallo_fs_entry *entry) {
    uint64_t key = atomic_load_explicit(&entry->key, memory_order_acquire);
    uint64_t count_weight = atomic_load_explicit(&entry->count_weight, memory_order_relaxed);
    if (key == 0 || count_weight == 0)
        return true;
    if ((map->slots == NULL || 2 * (map->used + 1) > map->mask + 1) && !pair_map_grow(map))
        return false;
    size_t at = slot_of(key, map->mask);
    while (map->slots[at].key != 0 && map->slots[at].key != key)
        at = (at + 1) & map->mask;
    pair_sum *sum = &map->slots[at];
    map->used += sum->key == 0;
    sum->key = key;
    sum->count_weight += count_weight;
    sum->bytes += atomic_load_explicit(&entry->bytes, memory_order_relaxed);
    sum->cross_weight += atomic_load_explicit(&entry->cross_weight, memory_order_relaxed);
    return true;
}

static bool pairs_gather(rallo_profile *profile, pair_map *map) {
    uint64_t other_weight = 0;
    for (uint32_t t = 0; t < _rallo_door->fs_table_count(); t++) {
        const rallo_fs_table *table = _rallo_door->fs_table(t);
        if (table == NULL)
            continue;
        other_weight += atomic_load_explicit(&table->other_count_weight, memory_order_relaxed);
        profile->free_sites_other_bytes += atomic_load_explicit(&table->other_bytes, memory_order_relaxed);
        for (uint32_t i = 0; i < RALLO_FS_ENTRIES; i++)
            if (!pair_add(map, &table->entries[i]))
                return false;
    }
    profile->free_sites_other_count = _rallo_count_of_weight(other_weight);
    return true;
}

/* The profile's locations, extended by the free stacks' frames: the ones it
 * has found by address, new ones appended. */
typedef struct frame_index {
    uint64_t *addresses; /* 0: empty */
    uint32_t *indices;
    size_t mask;
    rallo_prof_location *added;
    size_t nadded, room;
} frame_index;

static void frame_index_put(frame_index *index, uint64_t address, uint32_t location) {
    size_t at = slot_of(address, index->mask);
    while (index->addresses[at] != 0 && index->addresses[at] != address)
        at = (at + 1) & index->mask;
    index->addresses[at] = address;
    index->indices[at] = location;
}

/* A bigger table, every address put back (its location: the profile's, or
 * an added one). */
static bool frame_index_grow(frame_index *index, const rallo_profile *profile) {
    size_t slots = 2 * (index->mask + 1);
    uint64_t *addresses = mi_zalloc(slots * sizeof *addresses);
    uint32_t *indices = mi_malloc(slots * sizeof *indices);
    if (addresses == NULL || indices == NULL) {
        mi_free(addresses);
        mi_free(indices);
        return false;
    }
    mi_free(index->addresses);
    mi_free(index->indices);
    index->addresses = addresses;
    index->indices = indices;
    index->mask = slots - 1;
    for (size_t i = 0; i < profile->nlocations; i++)
        frame_index_put(index, profile->locations[i].address, (uint32_t)i);
    for (size_t i = 0; i < index->nadded; i++)
        frame_index_put(index, index->added[i].address, (uint32_t)(profile->nlocations + i));
    return true;
}

static bool frame_index_init(frame_index *index, const rallo_profile *profile) {
    size_t slots = 128;
    while (slots < 2 * profile->nlocations + 64)
        slots *= 2;
    index->mask = slots / 2 - 1; /* frame_index_grow doubles it */
    return frame_index_grow(index, profile);
}

/* The location of a free stack's frame; UINT32_MAX when out of memory. */
static uint32_t frame_location(const rallo_profile *profile, frame_index *index, uint64_t address) {
    size_t at = slot_of(address, index->mask);
    while (index->addresses[at] != 0) {
        if (index->addresses[at] == address)
            return index->indices[at];
        at = (at + 1) & index->mask;
    }
    if (!rallo_array_reserve((void **)&index->added, &index->room, index->nadded + 1, sizeof *index->added,
                             256))
        return UINT32_MAX;
    uint32_t mapping = RALLO_NO_MAPPING;
    for (size_t m = 0; m < profile->nmappings && mapping == RALLO_NO_MAPPING; m++)
        if (address >= profile->mappings[m].start && address < profile->mappings[m].limit)
            mapping = (uint32_t)m;
    uint32_t location = (uint32_t)(profile->nlocations + index->nadded);
    index->added[index->nadded++] = (rallo_prof_location){.address = address, .mapping = mapping};
    if (2 * (profile->nlocations + index->nadded) > index->mask + 1) {
        if (!frame_index_grow(index, profile))
            return UINT32_MAX;
    } else {
        frame_index_put(index, address, location);
    }
    return location;
}

static int by_bytes_descending(const void *a, const void *b) {
    const rallo_prof_free_site *x = a, *y = b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

/* Each pair under its allocation site; its free stack's frames located. */
static int sites_fill(rallo_profile *profile, const pair_map *map, const uint32_t *site_of_id, uint32_t nids,
                      frame_index *index) {
    for (size_t i = 0; i <= map->mask; i++) {
        uint32_t alloc_id = (uint32_t)(map->slots[i].key >> 32);
        if (map->slots[i].key != 0 && alloc_id < nids && site_of_id[alloc_id] != 0)
            profile->sites[site_of_id[alloc_id] - 1].nfree_sites++;
    }
    for (size_t s = 0; s < profile->nsites; s++) {
        rallo_prof_site *site = &profile->sites[s];
        uint32_t n = site->nfree_sites;
        site->free_sites = rallo_profile_alloc(profile, (n ? n : 1) * sizeof *site->free_sites);
        if (site->free_sites == NULL)
            return -1;
        site->nfree_sites = 0;
    }
    for (size_t i = 0; i <= map->mask; i++) {
        const pair_sum *pair = &map->slots[i];
        uint32_t alloc_id = (uint32_t)(pair->key >> 32);
        if (pair->key == 0 || alloc_id >= nids || site_of_id[alloc_id] == 0)
            continue;
        rallo_prof_site *site = &profile->sites[site_of_id[alloc_id] - 1];
        rallo_prof_free_site *freer = &site->free_sites[site->nfree_sites++];
        freer->count = _rallo_count_of_weight(pair->count_weight);
        freer->bytes = pair->bytes;
        freer->cross_thread = _rallo_count_of_weight(pair->cross_weight);
        uint32_t depth = 0;
        const uintptr_t *pcs = _rallo_door->site_frames((uint32_t)pair->key, &depth);
        freer->locations = rallo_profile_alloc(profile, (depth ? depth : 1) * sizeof *freer->locations);
        if (freer->locations == NULL)
            return -1;
        for (uint32_t f = 0; f < depth; f++) {
            uint32_t location = pcs[f] != 0 ? frame_location(profile, index, pcs[f]) : 0;
            if (location == UINT32_MAX)
                return -1;
            if (pcs[f] != 0)
                freer->locations[freer->nlocations++] = location;
        }
    }
    for (size_t s = 0; s < profile->nsites; s++)
        qsort(profile->sites[s].free_sites, profile->sites[s].nfree_sites, sizeof(rallo_prof_free_site),
              by_bytes_descending);
    return 0;
}

/* The profile's locations with the added ones after them, in its arena. */
static int locations_extend(rallo_profile *profile, const frame_index *index) {
    if (index->nadded == 0)
        return 0;
    size_t total = profile->nlocations + index->nadded;
    rallo_prof_location *all = rallo_profile_alloc(profile, total * sizeof *all);
    if (all == NULL)
        return -1;
    if (profile->nlocations > 0)
        memcpy(all, profile->locations, profile->nlocations * sizeof *all);
    memcpy(all + profile->nlocations, index->added, index->nadded * sizeof *all);
    profile->locations = all;
    profile->nlocations = total;
    return 0;
}

int _rallo_snapshot_free_sites(rallo_profile *profile) {
    if (!_rallo_door->free_sites_on())
        return 0;
    pair_map map = {0};
    frame_index index = {0};
    uint32_t nids = _rallo_door->site_count();
    uint32_t *site_of_id = mi_zalloc((nids ? nids : 1) * sizeof *site_of_id);
    int result = -1;
    if (site_of_id == NULL || !pairs_gather(profile, &map))
        goto done;
    for (size_t s = 0; s < profile->nsites; s++)
        if (profile->sites[s].site_id < nids)
            site_of_id[profile->sites[s].site_id] = (uint32_t)s + 1;
    if (!frame_index_init(&index, profile))
        goto done;
    if (map.slots != NULL && sites_fill(profile, &map, site_of_id, nids, &index) != 0)
        goto done;
    result = locations_extend(profile, &index);
    profile->has_free_sites = result == 0;
done:
    mi_free(site_of_id);
    mi_free(map.slots);
    mi_free(index.addresses);
    mi_free(index.indices);
    mi_free(index.added);
    return result;
}
