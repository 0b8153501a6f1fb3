/* free_sites.h - who frees (RALLO_FREE_SITES, issue 15): each free of a
 * tracked block counted under the pair (the block's allocation site, the
 * stack that freed it), with the bytes and the frees made by another thread
 * than the one that allocated. Pairs live in per-thread open-addressed
 * tables reserved once at start (free_sites.c): the owning thread writes its
 * table with plain stores; threads past the last table share one, with atomic
 * adds. A pair that finds its table full is counted in the table's "other"
 * figures. Nothing here runs unless the option is on. */
#ifndef RALLO_FREE_SITES_H
#define RALLO_FREE_SITES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lifetime.h" /* the thread slot a header names, and this thread's */
#include "tracking.h"

#define RALLO_FS_TABLES 128u     /* threads with a table of their own */
#define RALLO_FS_ENTRIES_LOG2 12 /* pairs a table holds: 4096 */
#define RALLO_FS_ENTRIES (1u << RALLO_FS_ENTRIES_LOG2)
#define RALLO_FS_PROBES 16u /* entries tried before a pair counts as "other" */

typedef struct rallo_fs_entry {
    _Atomic uint64_t key; /* alloc site << 32 | free site; 0: empty */
    _Atomic uint64_t count_weight, bytes, cross_weight;
} rallo_fs_entry;
typedef struct rallo_fs_table {
    rallo_fs_entry entries[RALLO_FS_ENTRIES];
    _Atomic uint64_t other_count_weight, other_bytes; /* pairs the table had no room for */
} rallo_fs_table;

/* This thread's table (NULL until its first counted free), and whether it
 * is the shared one. */
typedef struct rallo_fs_tls {
    rallo_fs_table *table;
    bool shared;
} rallo_fs_tls;
extern __thread rallo_fs_tls _rallo_fs __attribute__((tls_model("initial-exec"))) rallo_internal;

static inline bool _rallo_fs_on(void) {
    return _rallo_options.free_sites;
}

/* The tables (RALLO_FS_TABLES + 1, the last shared), reserved without being
 * touched; false (and free sites off, after one line) when they cannot be.
 * Called once, at tracking's start. */
bool _rallo_fs_reserve(void) rallo_internal;
/* Claims this thread's table (or the shared one), then counts. */
void _rallo_fs_count_slow(uint64_t key, uint64_t count_weight, uint64_t bytes, bool cross) rallo_internal;
/* Counts a pair in a table: plain stores in the thread's own, atomic in the shared one. */
void _rallo_fs_count_table(rallo_fs_table *table, bool shared, uint64_t key, uint64_t count_weight,
                           uint64_t bytes, bool cross) rallo_internal;

/* A free of a block of `size` bytes (sampled in `epoch`) that thread `slot`
 * allocated at `alloc_site`, made at `free_site` by this thread. A block's
 * slot is 0 when its thread had none of its own (past the 256th); a free of
 * it by another such thread is not seen as cross-thread. */
static inline void _rallo_fs_count(uint32_t alloc_site, uint32_t free_site, uint64_t size, rallo_epoch epoch,
                                   uint32_t slot) {
    uint64_t count_weight, bytes;
    _rallo_weight_of(epoch, size, &count_weight, &bytes);
    bool cross = slot != _rallo_lt.slot || rallo_unlikely(_rallo_lt.record == NULL);
    uint64_t key = (uint64_t)alloc_site << 32 | free_site;
    rallo_fs_tls *tls = &_rallo_fs;
    if (rallo_unlikely(tls->table == NULL)) {
        _rallo_fs_count_slow(key, count_weight, bytes, cross);
        return;
    }
    _rallo_fs_count_table(tls->table, tls->shared, key, count_weight, bytes, cross);
}

/* The same, the free site being the stack that called into librallo (the
 * capture an allocation makes, in free_sites.c: out of line, so that the
 * tracked path's own copy of the capture is compiled as before). */
void _rallo_fs_count_here(uint32_t alloc_site, uint64_t size, rallo_epoch epoch, uint32_t slot) rallo_internal;

/* ---- the read side ---- */
/* Tables claimed so far (the shared one counted last when used); table(i). */
uint32_t _rallo_fs_table_count(void) rallo_internal;
const rallo_fs_table *_rallo_fs_table(uint32_t index) rallo_internal;

#endif
