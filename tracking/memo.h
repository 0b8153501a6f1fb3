/* memo.h - each thread's memo of the depot: a direct-mapped table from stack
 * hash to site id (for frame pointers, the quick walk's hash:
 * unwind/unwind_fp.h), kept in the thread's shard. It trusts the 64-bit hash
 * alone (the depot behind it compares whole stacks): with the hash's finish a
 * bijection, two of n distinct stacks share a hash with odds about
 * n^2 / 2^65, under 10^-9 for 100,000 stacks, and the cost of that would be
 * one stack's figures shown under the other's frames. In exchange, a repeated
 * call site costs one load and compare instead of a walk through the depot's
 * table and a compare of every frame. */
#ifndef RALLO_MEMO_H
#define RALLO_MEMO_H

#include "depot.h"
#include "thread.h"

#define RALLO_MEMO_ENTRIES_LOG2 9
#define RALLO_MEMO_ENTRIES (1u << RALLO_MEMO_ENTRIES_LOG2)
typedef struct rallo_memo_entry {
    uint64_t hash;
    uint32_t site_id;                     /* 0: empty */
    struct rallo_site_counters *counters; /* this thread's counters of the site, once known */
} rallo_memo_entry;
/* A call site as capture found it: its id, and the memo entry that names it
 * (NULL when there is none), where counting finds the site's counters. */
typedef struct rallo_site_ref {
    uint32_t site_id;
    rallo_memo_entry *memo_entry;
} rallo_site_ref;
/* This thread's memo entry for `hash`; NULL before the thread has a shard. The
 * top bits index it: in a multiplicative hash they are the ones every input
 * bit reached, so an unfinished hash (the quick walk's) can be used as it is. */
static inline rallo_memo_entry *_rallo_memo_entry(uint64_t hash) {
    rallo_memo_entry *memo = _rallo_thread.memo;
    return rallo_likely(memo != NULL) ? &memo[hash >> (64 - RALLO_MEMO_ENTRIES_LOG2)] : NULL;
}
/* The site the memo entry (if any) holds for `hash`; 0 (no site) when it holds
 * another hash or none. */
static inline uint32_t _rallo_memo_hit(const rallo_memo_entry *entry, uint64_t hash) {
    return rallo_likely(entry != NULL) && rallo_likely(entry->hash == hash) ? entry->site_id : 0;
}
/* Puts a site in the memo entry (if any); its counters are found when first
 * counted (_rallo_count_alloc_captured). */
static inline void _rallo_memo_fill(rallo_memo_entry *entry, uint64_t hash, uint32_t site_id) {
    if (entry != NULL)
        *entry = (rallo_memo_entry){.hash = hash, .site_id = site_id, .counters = NULL};
}
/* The site of a whole stack (hash finished): the memo, else the depot. */
static inline uint32_t _rallo_site_of_stack(const uintptr_t *pcs, uint32_t depth, uint64_t hash) {
    rallo_memo_entry *entry = _rallo_memo_entry(hash);
    uint32_t site_id = _rallo_memo_hit(entry, hash);
    if (rallo_likely(site_id != 0))
        return site_id;
    site_id = _rallo_depot_intern_hashed(pcs, depth, hash);
    _rallo_memo_fill(entry, hash, site_id);
    return site_id;
}

#endif
