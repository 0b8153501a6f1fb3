/* census-ages.c - how old the live blocks of the calling thread's own tracked
 * heap are, per site, read from their headers' stamps (the census's walk: the
 * only heap mimalloc 2.0.9 lets a thread walk safely). A large block's stamp
 * is in the link after its header; one with a larger alignment, whose link
 * is not at a known place, is left out. */
#include "../tracking/lifetime.h"
#include "alloc-internal.h"

typedef struct ages_walk {
    uint64_t *ages_weight; /* nsites x RALLO_LT_TIME_BUCKETS */
    uint32_t nsites;
    uint64_t now;
} ages_walk;

/* The stamp of a large block of alignment 16: its link at start + 16. */
static bool linked_stamp(void *start, rallo_block *block) {
    const rallo_header *link = (const rallo_header *)start + 1;
    if (link->magic != rallo_header_magic(link, link->site_id, link->info) ||
        (link->info & (RALLO_INFO_LINK | RALLO_INFO_FREED)) != RALLO_INFO_LINK ||
        link->site_id != 2 * RALLO_HEADER_SIZE)
        return false;
    block->stamp = link->info & RALLO_LT_STAMP_MASK;
    return true;
}

static bool ages_visit(const mi_heap_t *heap, const mi_heap_area_t *area, void *start, size_t block_size,
                       void *arg) {
    (void)heap;
    (void)area;
    (void)block_size;
    ages_walk *walk = arg;
    rallo_block block;
    if (start == NULL || !_rallo_block_at_start(start, &block) || block.site_id >= walk->nsites)
        return true;
    if (!block.stamped && !linked_stamp(start, &block))
        return true;
    uint64_t count_weight, bytes;
    _rallo_weight_of(block.epoch, block.size, &count_weight, &bytes);
    uint64_t units = (walk->now - block.stamp) & RALLO_LT_STAMP_MASK;
    walk->ages_weight[(size_t)block.site_id * RALLO_LT_TIME_BUCKETS +
                      _rallo_lt_time_bucket(_rallo_lt_units_ns(units))] += count_weight;
    return true;
}

int _rallo_census_ages(uint64_t *ages_weight, uint32_t nsites) {
    mi_heap_t *heap = _rallo_arena_heap_if_any();
    if (heap == NULL)
        return 0;
    ages_walk walk = {.ages_weight = ages_weight, .nsites = nsites, .now = _rallo_lt_now()};
    _rallo_guard_enter();
    mi_heap_collect(heap, false);
    mi_heap_visit_blocks(heap, true, ages_visit, &walk);
    _rallo_guard_leave();
    return 1;
}
