/* header.c - reading the block header of a tracked block: from the user pointer
 * (free, realloc, malloc_usable_size) and from the block start (the census). */
#include "alloc-internal.h"
#include "../tracking/lifetime.h"

uint64_t _rallo_secret = 0;

static inline bool header_valid(const rallo_header *header) {
    return header->magic == rallo_header_magic(header, header->site_id, header->info);
}

bool _rallo_block_at_start(void *start, rallo_block *out) {
    const rallo_header *header = start;
    if (!header_valid(header) || (header->info & (RALLO_INFO_LINK | RALLO_INFO_FREED)) != 0)
        return false;
    rallo_assert_hot(rallo_in_arena(start));
    out->start = start;
    out->site_id = header->site_id & RALLO_SITE_ID_MASK;
    out->epoch = rallo_info_epoch(header->info);
    /* A small block's header holds its stamp; a LINKed block's, its link. */
    out->stamped = (header->info & RALLO_INFO_ALIGNED) == 0;
    if (out->stamped) {
        out->size = rallo_small_size(header->info);
        out->stamp = rallo_small_stamp(header->info);
        out->slot = rallo_small_slot(header->site_id);
    } else {
        out->size = rallo_info_size(header->info);
        out->stamp = 0;
        out->slot = 0;
    }
    return true;
}

bool _rallo_block_of(void *p, rallo_block *out) {
    if (((uintptr_t)p & 15) != 0) /* never one of ours: every user pointer is 16-aligned */
        return false;
    rallo_header *header = (rallo_header *)p - 1;
    if (!header_valid(header))
        return false;
    if ((header->info & RALLO_INFO_LINK) == 0)
        return _rallo_block_at_start(header, out);
    /* An aligned block: the link tells how far back its start is. */
    char *start = (char *)p - (header->site_id & RALLO_SITE_ID_MASK);
    if (!rallo_in_arena(start) || !_rallo_block_at_start(start, out) || out->stamped)
        return false;
    out->stamped = true;
    out->stamp = header->info & RALLO_LT_STAMP_MASK;
    out->slot = rallo_info_slot(header->info);
    return (out->size + ((char *)p - start)) <= mi_usable_size(start);
}
