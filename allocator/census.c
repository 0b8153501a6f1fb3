/* census.c - a walk of the calling thread's own tracked heap that reads each
 * live block's header: per-site live objects and bytes straight from the heap,
 * the cross-check for the counters. mimalloc 2.0.9 cannot walk another running
 * thread's heap safely, so the census never tries. */
#include <errno.h>
#include <string.h>

#include "../tracking/read_side.h"
#include "alloc-internal.h"

typedef struct census_site {
    uint64_t live_weight, live_bytes;
} census_site;

typedef struct census_walk {
    census_site *sites;
    uint32_t site_count;
} census_walk;

static bool census_visit(const mi_heap_t *heap, const mi_heap_area_t *area, void *block, size_t block_size,
                         void *arg) {
    (void)heap;
    (void)area;
    (void)block_size;
    if (block == NULL)
        return true;
    census_walk *walk = arg;
    rallo_block found;
    if (!_rallo_block_at_start(block, &found) || found.site_id >= walk->site_count)
        return true;
    uint64_t weight, bytes;
    _rallo_weight_of(found.epoch, found.size, &weight, &bytes);
    walk->sites[found.site_id].live_weight += weight;
    walk->sites[found.site_id].live_bytes += bytes;
    return true;
}

int _rallo_census(rallo_site_fn fn, void *arg) {
    if (fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    mi_heap_t *heap = _rallo_arena_heap_if_any();
    if (heap == NULL)
        return 0;
    census_walk walk = {.site_count = _rallo_site_count()};
    walk.sites = mi_zalloc(sizeof(census_site) * walk.site_count);
    if (walk.sites == NULL) {
        errno = ENOMEM;
        return -1;
    }
    _rallo_guard_enter();
    /* Blocks freed by other threads sit on this heap's thread-free lists until
     * collected; collect first or the walk shows them as live. */
    mi_heap_collect(heap, false);
    mi_heap_visit_blocks(heap, true, census_visit, &walk);
    _rallo_guard_leave();
    int result = 0;
    for (uint32_t site_id = RALLO_SITE_OTHER; site_id < walk.site_count && result == 0; site_id++) {
        if (walk.sites[site_id].live_weight == 0)
            continue;
        rallo_site site;
        memset(&site, 0, sizeof site);
        site.site_id = site_id;
        site.frames = (const void *const *)_rallo_site_frames(site_id, &site.depth);
        site.live_count = _rallo_count_of_weight(walk.sites[site_id].live_weight);
        site.live_bytes = walk.sites[site_id].live_bytes;
        result = fn(&site, arg);
    }
    mi_free(walk.sites);
    return result;
}
