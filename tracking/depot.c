/* depot.c - the stack depot: a stack of return addresses is stored once and
 * named by a 32-bit site id. Lookups never lock: records are published with a
 * release store into an open-addressing table of site ids. Inserts claim a slot
 * with a compare-and-swap. The table is a row of levels, each twice the last:
 * a stack is looked for (and put) in a few slots of each level in turn, so a
 * process's first thousands of stacks fill the first 16 KiB instead of
 * touching a page each of a table sized for the limit (a million sites: 8 MiB).
 * Memory is reserved once, bounded, and append-only;
 * when it (or the site limit) is used up, new stacks fold into RALLO_SITE_OTHER
 * and are counted. */
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "tracking.h"

typedef struct depot_record {
    uint64_t hash;
    uint32_t site_id;
    uint32_t depth;
    uintptr_t pcs[];
} depot_record;

static _Atomic uint32_t *depot_table; /* slot -> site id, 0 = empty */
static uint64_t depot_table_slots;
/* Levels: DEPOT_LEVEL0_SLOTS, then doubling, up to depot_table_slots in all.
 * A stack takes the first empty slot among DEPOT_LEVEL_PROBES from its hash
 * in each level; the last level is probed whole. Every thread follows the
 * same slots in the same order, so a stack is found where it was put. */
#define DEPOT_LEVEL0_SLOTS 4096u
#define DEPOT_LEVEL_PROBES 8u
#define DEPOT_MAX_LEVELS 24u
static uint32_t depot_levels;
static uint64_t depot_level_start[DEPOT_MAX_LEVELS], depot_level_slots[DEPOT_MAX_LEVELS];
static _Atomic(depot_record *) *depot_by_site; /* site id -> record */
static uint32_t depot_max_sites;
static char *depot_pool;
static uint64_t depot_pool_size;
static _Atomic uint64_t depot_pool_used = 0;
static _Atomic uint32_t depot_next_site = RALLO_SITE_FIRST;
static _Atomic uint64_t depot_overflowed = 0;
/* Distinct stacks in the table: site ids can run ahead of it, since a thread
 * that loses an insert race to the same stack leaves its id unused. */
static _Atomic uint32_t depot_published = 0;
static _Atomic int depot_warned = 0;

static void *depot_reserve(uint64_t bytes) {
    /* Touched lazily: only what holds stacks is ever backed by memory. */
    void *area =
        mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return area == MAP_FAILED ? NULL : area;
}

/* Under an address-space limit (ulimit -v) every byte reserved counts against
 * the program's own allowance, touched or not: sizes not given in the
 * environment shrink to a 256th of the limit for the pool, and to one site
 * per 64 bytes of it (16 bytes of tables a site). */
static void depot_fit_to_limit(uint64_t *pool_bytes, uint32_t *max_sites) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return;
    uint64_t share = (uint64_t)limit.rlim_cur / 256;
    if (share < (1u << 20))
        share = 1u << 20;
    if (!_rallo_options.depot_bytes_given && *pool_bytes > share)
        *pool_bytes = share;
    if (!_rallo_options.max_sites_given && *max_sites > *pool_bytes / 64)
        *max_sites = (uint32_t)(*pool_bytes / 64);
}

static uint64_t depot_table_bytes(void) {
    return depot_table_slots * sizeof(uint32_t);
}

bool _rallo_depot_init(void) {
    if (depot_pool != NULL)
        return true;
    uint64_t pool_bytes = _rallo_options.depot_bytes;
    uint32_t max_sites = _rallo_options.max_sites;
    depot_fit_to_limit(&pool_bytes, &max_sites);
    uint64_t slots = 1;
    while (slots < 2ull * max_sites)
        slots <<= 1;
    _Atomic uint32_t *table = depot_reserve(slots * sizeof(uint32_t));
    _Atomic(depot_record *) *by_site = depot_reserve((uint64_t)max_sites * sizeof(depot_record *));
    char *pool = depot_reserve(pool_bytes);
    if (table == NULL || by_site == NULL || pool == NULL) {
        if (table != NULL)
            munmap((void *)table, slots * sizeof(uint32_t));
        if (by_site != NULL)
            munmap((void *)by_site, (uint64_t)max_sites * sizeof(depot_record *));
        if (pool != NULL)
            munmap(pool, pool_bytes);
        return false;
    }
    depot_table = table;
    depot_table_slots = slots;
    uint64_t start = 0, size = slots < DEPOT_LEVEL0_SLOTS ? slots : DEPOT_LEVEL0_SLOTS;
    for (depot_levels = 0; start < slots && depot_levels < DEPOT_MAX_LEVELS; depot_levels++) {
        if (size > slots - start || depot_levels == DEPOT_MAX_LEVELS - 1)
            size = slots - start;
        depot_level_start[depot_levels] = start;
        depot_level_slots[depot_levels] = size;
        start += size;
        size *= 2;
    }
    depot_by_site = by_site;
    depot_max_sites = max_sites;
    depot_pool_size = pool_bytes;
    depot_pool = pool;
    return true;
}

void _rallo_depot_release(void) {
    if (depot_pool == NULL)
        return;
    char *pool = depot_pool;
    depot_pool = NULL; /* interning sees no depot from here on */
    munmap(pool, depot_pool_size);
    munmap((void *)depot_by_site, (uint64_t)depot_max_sites * sizeof(depot_record *));
    munmap((void *)depot_table, depot_table_bytes());
    depot_by_site = NULL;
    depot_table = NULL;
    depot_table_slots = 0;
    depot_levels = 0;
    depot_max_sites = 0;
    depot_pool_size = 0;
}

static inline bool depot_same(const depot_record *record, uint64_t hash, const uintptr_t *pcs,
                              uint32_t depth) {
    if (record->hash != hash || record->depth != depth)
        return false;
    /* Inline, not memcmp: stacks are short and this runs on every tracked call. */
    for (uint32_t i = 0; i < depth; i++)
        if (record->pcs[i] != pcs[i])
            return false;
    return true;
}

static uint32_t depot_overflow(void) {
    atomic_fetch_add_explicit(&depot_overflowed, 1, memory_order_relaxed);
    if (atomic_exchange_explicit(&depot_warned, 1, memory_order_relaxed) == 0)
        _rallo_warn("stack depot full (%u sites, %llu bytes): new stacks are counted as [other]",
                    depot_max_sites, (unsigned long long)depot_pool_size);
    return RALLO_SITE_OTHER;
}

/* A record for a new stack, with the site id it will have if its insert wins. */
static rallo_noinline uint32_t depot_record_make(uint64_t hash, const uintptr_t *pcs, uint32_t depth) {
    uint32_t site_id = atomic_fetch_add_explicit(&depot_next_site, 1, memory_order_relaxed);
    if (site_id >= depot_max_sites)
        return depot_overflow();
    uint64_t bytes = (sizeof(depot_record) + depth * sizeof(uintptr_t) + 7) & ~7ull;
    uint64_t offset = atomic_fetch_add_explicit(&depot_pool_used, bytes, memory_order_relaxed);
    if (offset + bytes > depot_pool_size)
        return depot_overflow();
    depot_record *record = (depot_record *)(depot_pool + offset);
    record->hash = hash;
    record->site_id = site_id;
    record->depth = depth;
    memcpy(record->pcs, pcs, depth * sizeof(uintptr_t));
    rallo_assert(site_id >= RALLO_SITE_FIRST && site_id < depot_max_sites);
    atomic_store_explicit(&depot_by_site[site_id], record, memory_order_release);
    return site_id;
}

uint32_t _rallo_depot_intern(const uintptr_t *pcs, uint32_t depth) {
    return _rallo_depot_intern_hashed(pcs, depth, _rallo_stack_hash(pcs, depth));
}

uint32_t _rallo_depot_intern_hashed(const uintptr_t *pcs, uint32_t depth, uint64_t hash) {
    if (rallo_unlikely(depot_pool == NULL))
        return RALLO_SITE_OTHER;
    uint32_t fresh = RALLO_SITE_NONE; /* our record's id, once made */
    for (uint32_t level = 0; level < depot_levels; level++) {
        uint64_t size = depot_level_slots[level];
        uint64_t probes = level + 1 == depot_levels || size < DEPOT_LEVEL_PROBES ? size : DEPOT_LEVEL_PROBES;
        _Atomic uint32_t *cells = depot_table + depot_level_start[level];
        uint64_t slot = hash % size;
        for (uint64_t probe = 0; probe < probes; probe++, slot = slot + 1 == size ? 0 : slot + 1) {
            uint32_t site_id = atomic_load_explicit(&cells[slot], memory_order_acquire);
            if (site_id == 0) {
                if (fresh == RALLO_SITE_NONE) {
                    fresh = depot_record_make(hash, pcs, depth);
                    if (fresh == RALLO_SITE_OTHER)
                        return fresh;
                }
                uint32_t expected = 0;
                if (atomic_compare_exchange_strong_explicit(&cells[slot], &expected, fresh,
                                                            memory_order_acq_rel, memory_order_acquire)) {
                    atomic_fetch_add_explicit(&depot_published, 1, memory_order_relaxed);
                    return fresh;
                }
                /* Another thread filled the slot first: maybe with this same
                 * stack. Our record stays as an unused duplicate, which
                 * reports skip. */
                site_id = expected;
            }
            depot_record *record = atomic_load_explicit(&depot_by_site[site_id], memory_order_acquire);
            if (rallo_likely(record != NULL) && depot_same(record, hash, pcs, depth)) {
                rallo_assert(record->site_id == site_id);
                return site_id;
            }
        }
    }
    return depot_overflow();
}

const uintptr_t *_rallo_site_frames(uint32_t site_id, uint32_t *depth) {
    *depth = 0;
    if (depot_by_site == NULL || site_id < RALLO_SITE_FIRST || site_id >= depot_max_sites)
        return NULL;
    depot_record *record = atomic_load_explicit(&depot_by_site[site_id], memory_order_acquire);
    if (record == NULL)
        return NULL;
    *depth = record->depth;
    return record->pcs;
}

uint32_t _rallo_site_count(void) {
    if (depot_pool == NULL)
        return RALLO_SITE_FIRST;
    uint32_t next = atomic_load_explicit(&depot_next_site, memory_order_acquire);
    return next < depot_max_sites ? next : depot_max_sites;
}

void _rallo_depot_stats(rallo_depot_stats *out) {
    out->sites = atomic_load_explicit(&depot_published, memory_order_relaxed);
    out->max_sites = depot_max_sites;
    uint64_t used = atomic_load_explicit(&depot_pool_used, memory_order_relaxed);
    out->bytes_used = used < depot_pool_size ? used : depot_pool_size;
    out->bytes_reserved = depot_pool_size;
    out->overflowed = atomic_load_explicit(&depot_overflowed, memory_order_relaxed);
}
