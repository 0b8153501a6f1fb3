/* counters.c - per-site counters, sharded per thread: a thread adds to its own
 * shard without atomics read-modify-write, and readers sum every shard. Shards
 * outlive their threads (exact for exited threads) and are reused by new ones.
 * Also the process-wide live bytes and their peak, and the untracked reasons. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <mimalloc.h>

#include "fork.h"
#include "read_side.h"
#include "tracking.h"

/* Guards the lists of shards (taken once per thread, never per allocation). */
static pthread_mutex_t shards_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(rallo_shard *) shards_all = NULL;
static rallo_shard *shards_free = NULL;
/* Frees on threads past their exit cleanup land here, with atomic adds. */
static rallo_shard *shard_orphan = NULL;
uint32_t _rallo_shard_chunk_count = 0;

/* The process-wide live bytes, fed in batches by each thread, and its peak. */
static _Atomic int64_t live_bytes_flushed = 0;
static _Atomic uint64_t live_bytes_peak = 0;

static _Atomic uint64_t untracked_by_reason[RALLO_UNTRACKED_REASONS];

static rallo_shard *shard_new(bool shared) {
    if (_rallo_shard_chunk_count == 0)
        _rallo_shard_chunk_count = (_rallo_options.max_sites + RALLO_CHUNK_SITES - 1) / RALLO_CHUNK_SITES;
    rallo_shard *shard = mi_zalloc(sizeof(rallo_shard) + _rallo_shard_chunk_count * sizeof(shard->chunks[0]));
    if (shard == NULL)
        return NULL;
    shard->shared = shared;
    shard->next_all = atomic_load_explicit(&shards_all, memory_order_relaxed);
    atomic_store_explicit(&shards_all, shard, memory_order_release);
    return shard;
}

static rallo_shard *shard_acquire(void) {
    pthread_mutex_lock(&shards_lock);
    rallo_shard *shard = shards_free;
    if (shard != NULL)
        shards_free = shard->next_free;
    else
        shard = shard_new(false);
    pthread_mutex_unlock(&shards_lock);
    return shard;
}

static rallo_shard *shard_orphan_get(void) {
    pthread_mutex_lock(&shards_lock);
    if (shard_orphan == NULL)
        shard_orphan = shard_new(true);
    rallo_shard *shard = shard_orphan;
    pthread_mutex_unlock(&shards_lock);
    return shard;
}

static rallo_noinline rallo_site_counters *chunk_create(rallo_shard *shard, uint32_t chunk) {
    rallo_site_counters *fresh = mi_zalloc_aligned(RALLO_CHUNK_SITES * sizeof(rallo_site_counters), 64);
    if (fresh == NULL)
        return NULL;
    rallo_site_counters *expected = NULL;
    /* Only the orphan shard can race here; the loser frees its copy. */
    if (!atomic_compare_exchange_strong(&shard->chunks[chunk], &expected, fresh)) {
        mi_free(fresh);
        return expected;
    }
    return fresh;
}

/* _rallo_shard_counters, making the site's chunk if need be. */
static inline rallo_site_counters *counters_for(rallo_shard *shard, uint32_t site_id) {
    rallo_site_counters *counters = _rallo_shard_counters(shard, site_id);
    uint32_t chunk = site_id / RALLO_CHUNK_SITES;
    if (rallo_likely(counters != NULL) || chunk >= _rallo_shard_chunk_count)
        return counters;
    rallo_site_counters *base = chunk_create(shard, chunk);
    return base != NULL ? &base[site_id % RALLO_CHUNK_SITES] : NULL;
}

static inline void counter_add(bool shared, _Atomic uint64_t *counter, uint64_t value) {
    if (shared)
        atomic_fetch_add_explicit(counter, value, memory_order_relaxed);
    else
        _rallo_counter_bump(counter, value);
}

/* The shard this thread writes to, and whether writes must be atomic: a
 * thread past its exit cleanup has given its shard back and uses the shared
 * orphan shard. */
static rallo_shard *shard_of_this_thread(bool *shared) {
    rallo_thread_state *thread = &_rallo_thread;
    *shared = false;
    if (rallo_likely(thread->shard != NULL))
        return thread->shard;
    if (thread->exited) {
        *shared = true;
        return shard_orphan_get();
    }
    /* Held guard: the watch registration allocates, and a tracked allocation
     * in here would come back for a shard. */
    _rallo_guard_enter();
    rallo_shard *shard = shard_acquire();
    _rallo_thread_watch();
    thread->shard = shard;
    thread->memo = shard != NULL ? shard->memo : NULL;
    _rallo_guard_leave();
    return shard;
}

void _rallo_live_bytes_flush(rallo_thread_state *thread) {
    int64_t pending = thread->pending_live_bytes;
    thread->pending_live_bytes = 0;
    int64_t now = atomic_fetch_add_explicit(&live_bytes_flushed, pending, memory_order_relaxed) + pending;
    /* The next batch: read here, not on every allocation, where it would pull
     * the shared line into every thread's cache again and again. */
    thread->live_flush_limit = now >> 8 > 4096 ? now >> 8 : 4096;
    if (now <= 0)
        return;
    uint64_t peak = atomic_load_explicit(&live_bytes_peak, memory_order_relaxed);
    while ((uint64_t)now > peak &&
           !atomic_compare_exchange_weak_explicit(&live_bytes_peak, &peak, (uint64_t)now,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
    if ((uint64_t)now > peak) /* this flush raised the peak */
        _rallo_peak_note((uint64_t)now);
}

/* Batching the live figure keeps one hot cache line from bouncing between
 * threads; the batch scales with the heap so the peak stays within about
 * (threads / 256) of the truth. */
static inline void live_bytes_add(rallo_thread_state *thread, int64_t delta) {
    thread->pending_live_bytes += delta;
    int64_t limit = thread->live_flush_limit;
    if (thread->pending_live_bytes > limit || thread->pending_live_bytes < -limit)
        _rallo_live_bytes_flush(thread);
}

void _rallo_count_alloc_slow(uint32_t site_id, uint64_t size, rallo_epoch epoch) {
    uint64_t weight, bytes;
    _rallo_weight_of(epoch, size, &weight, &bytes);
    bool shared;
    rallo_shard *shard = shard_of_this_thread(&shared);
    rallo_site_counters *counters = shard != NULL ? counters_for(shard, site_id) : NULL;
    if (rallo_unlikely(counters == NULL))
        return; /* rallo's own memory ran out: the site's figure stays short, never wrong-signed */
    counter_add(shared, &counters->alloc_weight, weight);
    counter_add(shared, &counters->alloc_bytes, bytes);
    if (shared)
        atomic_fetch_add_explicit(&live_bytes_flushed, (int64_t)bytes, memory_order_relaxed);
    else
        live_bytes_add(&_rallo_thread, (int64_t)bytes);
}

void _rallo_count_free_slow(uint32_t site_id, uint64_t size, rallo_epoch epoch) {
    uint64_t weight, bytes;
    _rallo_weight_of(epoch, size, &weight, &bytes);
    rallo_thread_state *thread = &_rallo_thread;
    bool shared;
    rallo_shard *shard = shard_of_this_thread(&shared);
    rallo_site_counters *counters = shard != NULL ? counters_for(shard, site_id) : NULL;
    if (rallo_unlikely(counters == NULL))
        return;
    counter_add(shared, &counters->free_weight, weight);
    counter_add(shared, &counters->free_bytes, bytes);
    if (shared)
        atomic_fetch_sub_explicit(&live_bytes_flushed, (int64_t)bytes, memory_order_relaxed);
    else
        live_bytes_add(thread, -(int64_t)bytes);
}

void _rallo_thread_exit(void) {
    rallo_thread_state *thread = &_rallo_thread;
    if (thread->pending_live_bytes != 0)
        _rallo_live_bytes_flush(thread);
    rallo_shard *shard = thread->shard;
    thread->shard = NULL;
    thread->memo = NULL;
    thread->exited = 1;
    if (shard == NULL)
        return;
    pthread_mutex_lock(&shards_lock);
    shard->next_free = shards_free;
    shards_free = shard;
    pthread_mutex_unlock(&shards_lock);
}

void _rallo_count_untracked(rallo_untracked_reason reason) {
    atomic_fetch_add_explicit(&untracked_by_reason[reason], 1, memory_order_relaxed);
}

void _rallo_site_sums(uint32_t site_id, rallo_site_sums *out) {
    memset(out, 0, sizeof *out);
    for (rallo_shard *shard = atomic_load_explicit(&shards_all, memory_order_acquire); shard != NULL;
         shard = shard->next_all) {
        const rallo_site_counters *counters = _rallo_shard_counters(shard, site_id);
        if (counters == NULL)
            continue;
        out->alloc_weight += atomic_load_explicit(&counters->alloc_weight, memory_order_relaxed);
        out->alloc_bytes += atomic_load_explicit(&counters->alloc_bytes, memory_order_relaxed);
        out->free_weight += atomic_load_explicit(&counters->free_weight, memory_order_relaxed);
        out->free_bytes += atomic_load_explicit(&counters->free_bytes, memory_order_relaxed);
    }
}

uint32_t _rallo_sites_snapshot(rallo_site_sums *out, uint32_t n) {
    uint32_t sites = _rallo_site_count();
    if (sites > n)
        sites = n;
    if (sites == 0)
        return 0;
    memset(out, 0, (size_t)sites * sizeof *out);
    /* Shard by shard, chunk by chunk: a copy of the counters, nothing more, so
     * allocating threads are never held up. */
    for (rallo_shard *shard = atomic_load_explicit(&shards_all, memory_order_acquire); shard != NULL;
         shard = shard->next_all) {
        for (uint32_t chunk = 0; chunk * RALLO_CHUNK_SITES < sites && chunk < _rallo_shard_chunk_count;
             chunk++) {
            rallo_site_counters *base = atomic_load_explicit(&shard->chunks[chunk], memory_order_acquire);
            if (base == NULL)
                continue;
            uint32_t end = (chunk + 1) * RALLO_CHUNK_SITES < sites ? (chunk + 1) * RALLO_CHUNK_SITES : sites;
            for (uint32_t site = chunk * RALLO_CHUNK_SITES; site < end; site++) {
                rallo_site_counters *counters = &base[site % RALLO_CHUNK_SITES];
                out[site].alloc_weight += atomic_load_explicit(&counters->alloc_weight, memory_order_relaxed);
                out[site].alloc_bytes += atomic_load_explicit(&counters->alloc_bytes, memory_order_relaxed);
                out[site].free_weight += atomic_load_explicit(&counters->free_weight, memory_order_relaxed);
                out[site].free_bytes += atomic_load_explicit(&counters->free_bytes, memory_order_relaxed);
            }
        }
    }
    return sites;
}

uint64_t _rallo_peak_live_bytes(void) {
    return atomic_load_explicit(&live_bytes_peak, memory_order_relaxed);
}

void _rallo_counters_atfork_prepare(void) {
    pthread_mutex_lock(&shards_lock);
}
void _rallo_counters_atfork_parent(void) {
    pthread_mutex_unlock(&shards_lock);
}
void _rallo_counters_atfork_child(void) {
    pthread_mutex_unlock(&shards_lock);
}

void _rallo_untracked_counts(rallo_untracked *out) {
    out->arena_full = atomic_load(&untracked_by_reason[RALLO_UNTRACKED_ARENA_FULL]);
    out->no_arena = atomic_load(&untracked_by_reason[RALLO_UNTRACKED_NO_ARENA]);
    out->alignment = atomic_load(&untracked_by_reason[RALLO_UNTRACKED_ALIGNMENT]);
    out->too_large = atomic_load(&untracked_by_reason[RALLO_UNTRACKED_TOO_LARGE]);
    out->thread_exiting = atomic_load(&untracked_by_reason[RALLO_UNTRACKED_THREAD_EXITING]);
    out->bad_header = atomic_load(&untracked_by_reason[RALLO_UNTRACKED_BAD_HEADER]);
}

static int sum_into_totals(const rallo_site *site, void *arg) {
    rallo_totals *totals = arg;
    RALLO_SITE_FIGURES_ADD(totals, site);
    return 0;
}

void _rallo_totals(rallo_totals *out) {
    memset(out, 0, sizeof *out);
    _rallo_sites_each(sum_into_totals, out);
    out->peak_live_bytes = _rallo_peak_live_bytes();
    if (out->peak_live_bytes < out->live_bytes)
        out->peak_live_bytes = out->live_bytes;
    rallo_untracked untracked;
    _rallo_untracked_counts(&untracked);
    out->untracked_count = untracked.arena_full + untracked.no_arena + untracked.alignment +
                           untracked.too_large + untracked.thread_exiting;
}

static void site_from_sums(uint32_t site_id, const rallo_site_sums *sums, rallo_site *site) {
    *site = (rallo_site){.site_id = site_id};
    site->frames = (const void *const *)_rallo_site_frames(site_id, &site->depth);
    rallo_site_figures figures = _rallo_site_figures(sums);
    RALLO_SITE_FIGURES_ADD(site, &figures);
}

int _rallo_sites_each(rallo_site_fn fn, void *arg) {
    if (fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    uint32_t sites = _rallo_site_count();
    rallo_site_sums *sums = sites != 0 ? mi_malloc(sizeof(rallo_site_sums) * sites) : NULL;
    if (sites != 0 && sums == NULL) {
        errno = ENOMEM;
        return -1;
    }
    sites = _rallo_sites_snapshot(sums, sites);
    int result = 0;
    for (uint32_t site_id = RALLO_SITE_OTHER; site_id < sites && result == 0; site_id++) {
        if (sums[site_id].alloc_weight == 0 && sums[site_id].free_weight == 0)
            continue;
        rallo_site site;
        site_from_sums(site_id, &sums[site_id], &site);
        result = fn(&site, arg);
    }
    mi_free(sums);
    return result;
}
