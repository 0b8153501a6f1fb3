/* counters.h - per-site counters (counters.c), sharded per thread, as the
 * hot path writes them: a shard is one thread's counters for every site, in
 * chunks made on first use. The common case of counting (an unsampled block,
 * this thread's own shard, its chunk made) is inline here; the rest is in
 * counters.c. What readers see of the counters is in read_side.h. */
#ifndef RALLO_COUNTERS_H
#define RALLO_COUNTERS_H

#include <stdatomic.h>

#include "memo.h"
#include "tracking.h" /* rallo_epoch, _rallo_weight (the sampler's) */

/* Counts are weights in fixed point: one unsampled object is
 * RALLO_COUNT_ONE = 1 << 16; a sampled one weighs the inverse of its chance. */
#define RALLO_COUNT_ONE 65536ull
#define RALLO_CHUNK_SITES 256u /* 8 KiB of counters a chunk */
typedef struct rallo_site_counters {
    _Atomic uint64_t alloc_weight, alloc_bytes, free_weight, free_bytes;
} rallo_site_counters;
typedef struct rallo_shard {
    struct rallo_shard *next_all;  /* every shard ever made, never freed */
    struct rallo_shard *next_free; /* shards of exited threads, to reuse */
    bool shared;                   /* the orphan shard: written with atomic adds */
    /* The owning thread's memo of the depot: it lives with the shard, so a
     * thread that reuses the shard reuses it, still valid (site ids are never
     * taken back), and nothing is left behind by exited threads. */
    rallo_memo_entry memo[RALLO_MEMO_ENTRIES];
    _Atomic(rallo_site_counters *) chunks[];
} rallo_shard;
extern uint32_t _rallo_shard_chunk_count rallo_internal; /* chunks a shard can have */
/* Every case the inline counting below does not take: a sampled block (its
 * weight computed), no shard or chunk yet, a thread past its exit (the
 * shared orphan shard). */
void _rallo_count_alloc_slow(uint32_t site_id, uint64_t size, rallo_epoch epoch) rallo_internal;
void _rallo_count_free_slow(uint32_t site_id, uint64_t size, rallo_epoch epoch) rallo_internal;
/* Adds this thread's pending live bytes to the process-wide figure (and peak). */
void _rallo_live_bytes_flush(rallo_thread_state *thread) rallo_internal;
typedef enum rallo_untracked_reason {
    RALLO_UNTRACKED_ARENA_FULL,
    RALLO_UNTRACKED_NO_ARENA,
    RALLO_UNTRACKED_ALIGNMENT,
    RALLO_UNTRACKED_TOO_LARGE,
    RALLO_UNTRACKED_THREAD_EXITING,
    RALLO_UNTRACKED_BAD_HEADER,
    RALLO_UNTRACKED_REASONS
} rallo_untracked_reason;
void _rallo_count_untracked(rallo_untracked_reason reason) rallo_internal;
/* From _rallo_live_bytes_flush on a new peak (peak.c): per-site live bytes
 * are re-taken only when the peak has grown by 1% since the last copy,
 * never waiting for a lock (a busy copy is skipped; the next peak retries). */
void _rallo_peak_note(uint64_t live_bytes) rallo_internal;

/* _rallo_weight with its common case, every allocation tracked, inline. */
static inline void _rallo_weight_of(rallo_epoch epoch, uint64_t size, uint64_t *weight, uint64_t *bytes) {
    if (rallo_likely(epoch == 0)) {
        *weight = RALLO_COUNT_ONE;
        *bytes = size;
        return;
    }
    _rallo_weight(epoch, size, weight, bytes);
}

/* A site's counters in a shard; NULL when the site lies beyond the shard's
 * chunks or its chunk is not made yet. */
static inline rallo_site_counters *_rallo_shard_counters(rallo_shard *shard, uint32_t site_id) {
    uint32_t chunk = site_id / RALLO_CHUNK_SITES;
    if (rallo_unlikely(chunk >= _rallo_shard_chunk_count))
        return NULL;
    rallo_site_counters *base = atomic_load_explicit(&shard->chunks[chunk], memory_order_acquire);
    return rallo_likely(base != NULL) ? &base[site_id % RALLO_CHUNK_SITES] : NULL;
}

/* This thread's counters of a site when they can be written with plain
 * stores: its own shard, the site's chunk already made. */
static inline rallo_site_counters *_rallo_own_counters(rallo_thread_state *thread, uint32_t site_id) {
    rallo_shard *shard = thread->shard;
    return rallo_likely(shard != NULL) ? _rallo_shard_counters(shard, site_id) : NULL;
}

/* The owner is the only writer: a plain add, published for readers. */
static inline void _rallo_counter_bump(_Atomic uint64_t *counter, uint64_t value) {
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + value,
                          memory_order_relaxed);
}

/* An unsampled allocation, or free, counted with plain stores in this
 * thread's own counters of its site, and in the thread's batch of live bytes
 * (flushed past its limit: an allocation only raises the batch, a free only
 * lowers it). */
static inline void _rallo_count_alloc_own(rallo_thread_state *thread, rallo_site_counters *counters,
                                          uint64_t size) {
    _rallo_counter_bump(&counters->alloc_weight, RALLO_COUNT_ONE);
    _rallo_counter_bump(&counters->alloc_bytes, size);
    thread->pending_live_bytes += (int64_t)size;
    if (rallo_unlikely(thread->pending_live_bytes > thread->live_flush_limit))
        _rallo_live_bytes_flush(thread);
}
static inline void _rallo_count_free_own(rallo_thread_state *thread, rallo_site_counters *counters,
                                         uint64_t size) {
    _rallo_counter_bump(&counters->free_weight, RALLO_COUNT_ONE);
    _rallo_counter_bump(&counters->free_bytes, size);
    thread->pending_live_bytes -= (int64_t)size;
    if (rallo_unlikely(thread->pending_live_bytes < -thread->live_flush_limit))
        _rallo_live_bytes_flush(thread);
}

/* An allocation at the site capture just found: its counters come from the
 * memo entry, looked up once per entry and kept there. */
static inline void _rallo_count_alloc_captured(rallo_site_ref site, uint64_t size, rallo_epoch epoch) {
    rallo_thread_state *thread = &_rallo_thread;
    rallo_memo_entry *entry = site.memo_entry;
    rallo_site_counters *counters = entry != NULL ? entry->counters : NULL;
    if (rallo_unlikely(counters == NULL)) {
        counters = _rallo_own_counters(thread, site.site_id);
        if (entry != NULL)
            entry->counters = counters;
    }
    if (rallo_unlikely(counters == NULL) || rallo_unlikely(epoch != 0)) {
        _rallo_count_alloc_slow(site.site_id, size, epoch);
        return;
    }
    _rallo_count_alloc_own(thread, counters, size);
}

/* An allocation at a site known by its id alone. */
static inline void _rallo_count_alloc(uint32_t site_id, uint64_t size, rallo_epoch epoch) {
    _rallo_count_alloc_captured((rallo_site_ref){.site_id = site_id, .memo_entry = NULL}, size, epoch);
}

static inline void _rallo_count_free(uint32_t site_id, uint64_t size, rallo_epoch epoch) {
    rallo_thread_state *thread = &_rallo_thread;
    rallo_site_counters *counters = _rallo_own_counters(thread, site_id);
    if (rallo_unlikely(counters == NULL) || rallo_unlikely(epoch != 0)) {
        _rallo_count_free_slow(site_id, size, epoch);
        return;
    }
    _rallo_count_free_own(thread, counters, size);
}

#endif
