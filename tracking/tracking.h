/* tracking.h - what allocator/ and report/ may use of tracking/: the on/off
 * flag, the per-thread guard, sample weights, call-site capture, per-site counters
 * and the read side (totals, site iteration). tracking/ never calls the
 * allocation entry points; its own memory comes from mimalloc directly. */
#ifndef RALLO_TRACKING_H
#define RALLO_TRACKING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rallo.h"

#define rallo_likely(x) __builtin_expect(!!(x), 1)
#define rallo_unlikely(x) __builtin_expect(!!(x), 0)
#define rallo_internal __attribute__((visibility("hidden")))
/* Hidden from programs in spirit, but exported: librallo-report.so (report/,
 * loaded on demand so that librallo itself needs nothing but mimalloc and libc)
 * calls these. Not part of the API: names may change between versions. */
#define rallo_report_api __attribute__((visibility("default")))
#define rallo_noinline __attribute__((noinline))

/* Site ids: 0 is "no site"; 1 collects stacks that found the depot full. */
#define RALLO_SITE_NONE 0u
#define RALLO_SITE_OTHER 1u
#define RALLO_SITE_FIRST 2u
#define RALLO_MAX_DEPTH 128

/* ---- on/off (state.c) ---- */

/* Guards the allocator's choice between the untracked and the tracked path:
 * one relaxed load of it is all the untracked path pays. */
extern _Atomic int _rallo_tracking_on rallo_internal;
void _rallo_tracking_set(bool on) rallo_report_api;

/* ---- configuration (options.c): read once at load, bad values ignored ---- */
typedef struct rallo_options {
    bool enable_at_start;  /* RALLO_ENABLE */
    uint64_t sample_bytes; /* RALLO_SAMPLE: 0 = every allocation */
    uint32_t depth;        /* RALLO_DEPTH */
    uint64_t arena_bytes;  /* RALLO_ARENA_SIZE */
    uint32_t max_sites;    /* RALLO_MAX_SITES */
    uint64_t depot_bytes;  /* RALLO_DEPOT_SIZE */
    uint32_t unwind;       /* RALLO_UNWIND: a rallo_unwind_mode */
    /* Set in the environment: taken as given, not fitted to an address-space limit. */
    bool arena_bytes_given, depot_bytes_given, max_sites_given;
} rallo_options;
/* How call sites are unwound: frame pointers only; .eh_frame call-frame
 * information only; frame pointers in modules built with them, CFI elsewhere. */
typedef enum rallo_unwind_mode { RALLO_UNWIND_FP, RALLO_UNWIND_DWARF, RALLO_UNWIND_AUTO } rallo_unwind_mode;
/* Parses "fp", "dwarf" or "auto" (options.c). */
bool _rallo_unwind_mode_parse(const char *text, uint32_t *mode) rallo_internal;
extern rallo_options _rallo_options rallo_internal;
void _rallo_options_load(void) rallo_internal;
/* Parses an unsigned size with an optional k/m/g/t suffix (powers of 1024).
 * Returns false, leaving *out alone, on anything else. */
bool _rallo_parse_size(const char *text, uint64_t *out) rallo_report_api;
/* Parses a boolean: 1/0, true/false, yes/no, on/off in any case, and "" for
 * false. Returns false, leaving *out alone, on anything else. */
bool _rallo_parse_bool(const char *text, bool *out) rallo_report_api;
/* getenv that ignores the environment of set-uid/set-gid processes. */
const char *_rallo_getenv(const char *name) rallo_report_api;
/* Installs rallo's handler for signo, the signal `variable` (RALLO_TOGGLE_SIGNAL,
 * RALLO_DUMP_SIGNAL) names, and watches it (signal_watch.c): a program that
 * later installs its own handler for it keeps it, and rallo says so once.
 * Refused, with one line, when a handler is there already. 0, or -1 after
 * that line. */
int _rallo_signal_take(int signo, void (*handler)(int), const char *variable) rallo_report_api;
/* One line on stderr, without allocating: "rallo: <message>\n". */
void _rallo_warn(const char *fmt, ...) rallo_report_api __attribute__((format(printf, 1, 2)));

/* ---- the per-thread guard (thread.c) ----
 * Set while rallo works on this thread (tracking an allocation, dumping): any
 * allocation the thread makes meanwhile is rallo's own and goes untracked. */
typedef struct rallo_thread_state {
    uint32_t guard;             /* > 0: inside rallo */
    uint32_t stack_known;       /* stack_hi and stack_lo are valid */
    uint32_t exited;            /* past this thread's exit cleanup */
    uintptr_t stack_hi;         /* one past the highest address of this thread's stack */
    uintptr_t stack_lo;         /* lowest address of this thread's stack */
    int64_t sample_countdown; /* bytes to allocate before the sampler is asked (sampler.h) */
    uint32_t countdown_epoch; /* the epoch whose interval drew sample_countdown; 0: not drawn */
    uint64_t rng;
    struct rallo_shard *shard;                 /* this thread's counters, NULL until first use */
    int64_t pending_live_bytes;                /* not yet added to the process-wide live figure */
    int64_t live_flush_limit;                  /* flush pending_live_bytes past this (set at each flush) */
    struct rallo_site_cache_entry *site_cache; /* this thread's stack hash -> site id memo (in its shard) */
} rallo_thread_state;
extern __thread rallo_thread_state _rallo_thread __attribute__((tls_model("initial-exec"))) rallo_report_api;

static inline bool _rallo_guard_enter(void) {
    return _rallo_thread.guard++ == 0;
}
static inline void _rallo_guard_leave(void) {
    _rallo_thread.guard--;
}
/* Called by a thread's exit cleanup: its shard goes back to the pool, and the
 * thread is marked exited (it tracks nothing more; its frees still count). */
void _rallo_thread_exit(void) rallo_internal;
/* Arranges (once per thread) for _rallo_thread_exit to run when the thread
 * exits, before any pthread key destructor (mimalloc's deletes our heap).
 * Call with the guard held: it allocates. */
void _rallo_thread_watch(void) rallo_internal;
/* Runs fn(arg) when this thread exits: glibc runs these when the thread's start
 * routine returns (for the main thread, at exit()), before any pthread key
 * destructor, so before mimalloc's own thread cleanup. Non-zero when it cannot
 * be arranged. Call with the guard held: it may allocate. */
int _rallo_at_thread_exit(void (*fn)(void *), void *arg) rallo_internal;

/* ---- sampling (sampler.h, sampler.c) ----
 * An epoch names the sampling interval a block was sampled under, so its weight
 * can be recomputed exactly when it is freed. Epoch 0: every allocation, weight 1. */
typedef uint8_t rallo_epoch;
/* The weight of a block of `size` bytes sampled in `epoch`, as a count in
 * 1/65536ths and as bytes. Deterministic: alloc and free compute the same. */
void _rallo_weight(rallo_epoch epoch, uint64_t size, uint64_t *count_fp, uint64_t *bytes) rallo_internal;

/* ---- call sites (unwind.c, depot.c) ---- */
/* Captures the stack of the allocation entry point that called it (rallo's own
 * frames skipped) and returns its site id: never RALLO_SITE_NONE. */
uint32_t _rallo_capture_site(void) rallo_internal;
/* Finds librallo's own code, whose frames a stack never shows. */
void _rallo_unwind_init(void) rallo_internal;
/* Walks frame pointers from `frame`; fills up to `max` return addresses.
 * Reads only inside [stack_lo, stack_hi) of this thread. */
uint32_t _rallo_unwind_fp(void *frame, uintptr_t *pcs, uint32_t max) rallo_internal;
/* How many stack walks of RALLO_UNWIND=fp stopped at a return address that
 * is no code (a frame of code built without frame pointers): stacks cut
 * short, which auto would have given whole. */
uint64_t _rallo_stacks_cut_short(void) rallo_report_api;
/* The frames of a site: leaf first; NULL/0 for an unknown id. */
const uintptr_t *_rallo_site_frames(uint32_t site_id, uint32_t *depth) rallo_report_api;
uint32_t _rallo_site_count(void) rallo_report_api; /* one past the highest site id */
uint32_t _rallo_depot_intern(const uintptr_t *pcs, uint32_t depth) rallo_internal;
/* The same, with the stack's hash already computed (by the unwinder, as it
 * walks) with the steps below. */
uint32_t _rallo_depot_intern_hashed(const uintptr_t *pcs, uint32_t depth, uint64_t hash) rallo_internal;
#define RALLO_STACK_HASH_SEED 0x84222325cbf29ce4ull
/* Two instructions a frame while walking, then a finish that spreads the
 * bits (see _rallo_site_of_stack on how far the hash alone is trusted). */
#define RALLO_STACK_HASH_K 0x9E3779B97F4A7C15ull
static inline uint64_t _rallo_stack_hash_step(uint64_t hash, uintptr_t pc) {
    return (hash + pc) * RALLO_STACK_HASH_K;
}
/* K^64 (mod 2^64), by six squarings the compiler folds: the quick walk's lift
 * of its second hash (unwind_fp.h). */
#define RALLO_STACK_HASH_K2 (RALLO_STACK_HASH_K * RALLO_STACK_HASH_K)
#define RALLO_STACK_HASH_K4 (RALLO_STACK_HASH_K2 * RALLO_STACK_HASH_K2)
#define RALLO_STACK_HASH_K8 (RALLO_STACK_HASH_K4 * RALLO_STACK_HASH_K4)
#define RALLO_STACK_HASH_K16 (RALLO_STACK_HASH_K8 * RALLO_STACK_HASH_K8)
#define RALLO_STACK_HASH_K32 (RALLO_STACK_HASH_K16 * RALLO_STACK_HASH_K16)
#define RALLO_STACK_HASH_K64 (RALLO_STACK_HASH_K32 * RALLO_STACK_HASH_K32)
static inline uint64_t _rallo_stack_hash_finish(uint64_t hash, uint32_t depth) {
    /* Each step is invertible (xor-shift, odd multiply), so stacks collide
     * only where the walk's sums did; this brings the high bits, which every
     * frame reached, down to the low ones that index the tables. */
    hash ^= depth;
    hash ^= hash >> 29;
    hash *= 0xbf58476d1ce4e5b9ull;
    return hash ^ (hash >> 32);
}
static inline uint64_t _rallo_stack_hash(const uintptr_t *pcs, uint32_t depth) {
    uint64_t hash = RALLO_STACK_HASH_SEED;
    for (uint32_t i = 0; i < depth; i++)
        hash = _rallo_stack_hash_step(hash, pcs[i]);
    return _rallo_stack_hash_finish(hash, depth);
}
/* A per-thread, direct-mapped memo of the depot: stack hash -> site id (for
 * frame pointers, the quick walk's hash: unwind_fp.h). It trusts the 64-bit
 * hash alone (the depot behind it compares whole stacks):
 * with the hash's finish a bijection, two of n distinct stacks share a hash
 * with odds about n^2 / 2^65, under 10^-9 for 100,000 stacks, and the cost of
 * that would be one stack's figures shown under the other's frames. In
 * exchange, a repeated call site costs one load and compare instead of a walk
 * through the depot's table and a compare of every frame. */
#define RALLO_SITE_CACHE_SLOTS_LOG2 9
#define RALLO_SITE_CACHE_SLOTS (1u << RALLO_SITE_CACHE_SLOTS_LOG2)
typedef struct rallo_site_cache_entry {
    uint64_t hash;
    uint32_t site_id;                     /* 0: empty */
    struct rallo_site_counters *counters; /* this thread's counters of the site, once known */
} rallo_site_cache_entry;
/* A call site as capture found it: its id, and the memo slot that names it
 * (NULL when there is none), where counting finds the site's counters. */
typedef struct rallo_site_ref {
    uint32_t site_id;
    rallo_site_cache_entry *slot;
} rallo_site_ref;
/* This thread's memo slot for `hash`; NULL before the thread has a shard. The
 * top bits index it: in a multiplicative hash they are the ones every input
 * bit reached, so an unfinished hash (the quick walk's) can be used as it is. */
static inline rallo_site_cache_entry *_rallo_site_cache_slot(uint64_t hash) {
    rallo_site_cache_entry *cache = _rallo_thread.site_cache;
    return rallo_likely(cache != NULL) ? &cache[hash >> (64 - RALLO_SITE_CACHE_SLOTS_LOG2)] : NULL;
}
/* The site the memo slot (if any) holds for `hash`; 0 (no site) when it holds
 * another hash or none. */
static inline uint32_t _rallo_site_cache_hit(const rallo_site_cache_entry *entry, uint64_t hash) {
    return rallo_likely(entry != NULL) && rallo_likely(entry->hash == hash) ? entry->site_id : 0;
}
/* Puts a site in the memo slot (if any); its counters are found when first
 * counted (_rallo_count_alloc_at). */
static inline void _rallo_site_cache_fill(rallo_site_cache_entry *entry, uint64_t hash, uint32_t site_id) {
    if (entry != NULL)
        *entry = (rallo_site_cache_entry){.hash = hash, .site_id = site_id, .counters = NULL};
}
static inline uint32_t _rallo_site_of_stack(const uintptr_t *pcs, uint32_t depth, uint64_t hash) {
    rallo_site_cache_entry *entry = _rallo_site_cache_slot(hash);
    uint32_t site_id = _rallo_site_cache_hit(entry, hash);
    if (rallo_likely(site_id != 0))
        return site_id;
    site_id = _rallo_depot_intern_hashed(pcs, depth, hash);
    _rallo_site_cache_fill(entry, hash, site_id);
    return site_id;
}
typedef struct rallo_depot_stats {
    uint32_t sites, max_sites; /* distinct stacks stored, and the limit */
    uint64_t bytes_used, bytes_reserved;
    uint64_t overflowed; /* stacks folded into RALLO_SITE_OTHER */
} rallo_depot_stats;
void _rallo_depot_stats(rallo_depot_stats *out) rallo_internal;
/* Reserves the depot once, fitted to an address-space limit (RLIMIT_AS) unless
 * its sizes were given; false if it cannot. */
bool _rallo_depot_init(void) rallo_internal;
/* Gives back what _rallo_depot_init reserved, before any stack was stored
 * (tracking could not start after all). */
void _rallo_depot_release(void) rallo_internal;

/* ---- counters (counters.c) ----
 * A shard: one thread's counters for every site, in chunks made on first use.
 * The common case of counting (an unsampled block, this thread's own shard,
 * its chunk made) is inline at the end of this file; the rest is in counters.c. */
#define RALLO_CHUNK_SITES 256u /* 8 KiB of counters a chunk */
typedef struct rallo_site_counters {
    _Atomic uint64_t alloc_count_fp, alloc_bytes, free_count_fp, free_bytes;
} rallo_site_counters;
typedef struct rallo_shard {
    struct rallo_shard *next_all;  /* every shard ever made, never freed */
    struct rallo_shard *next_free; /* shards of exited threads, to reuse */
    bool shared;                   /* the orphan shard: written with atomic adds */
    /* The owning thread's memo of the depot: it lives with the shard, so a
     * thread that reuses the shard reuses it, still valid (site ids are never
     * taken back), and nothing is left behind by exited threads. */
    rallo_site_cache_entry site_cache[RALLO_SITE_CACHE_SLOTS];
    _Atomic(rallo_site_counters *) chunks[];
} rallo_shard;
extern uint32_t _rallo_shard_chunk_count rallo_internal; /* chunks a shard can have */
void _rallo_count_alloc_slow(uint32_t site_id, uint64_t size, rallo_epoch epoch) rallo_internal;
void _rallo_count_free_slow(uint32_t site_id, uint64_t size, rallo_epoch epoch) rallo_internal;
/* Adds this thread's pending live bytes to the process-wide figure (and peak). */
void _rallo_live_bytes_flush(rallo_thread_state *thread) rallo_internal;
static inline void _rallo_count_alloc(uint32_t site_id, uint64_t size, rallo_epoch epoch);
static inline void _rallo_count_alloc_at(rallo_site_ref site, uint64_t size, rallo_epoch epoch);
static inline void _rallo_count_free(uint32_t site_id, uint64_t size, rallo_epoch epoch);
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
/* Sums every shard for one site. */
typedef struct rallo_site_sums {
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
} rallo_site_sums;
void _rallo_site_sums(uint32_t site_id, rallo_site_sums *out) rallo_internal;
/* Copies every site's sums into out[0..n) (out[i] is site i); returns how many
 * sites were copied. The caller owns `out`. */
uint32_t _rallo_sites_snapshot(rallo_site_sums *out, uint32_t n) rallo_report_api;
/* A site's figures as every reader shows them, from its summed shards. The
 * shards are read one after another while threads go on, so a free may be
 * seen before its alloc: a live figure never goes negative. */
typedef struct rallo_site_figures {
    uint64_t alloc_count, alloc_bytes, free_count, free_bytes, live_count, live_bytes;
} rallo_site_figures;
static inline rallo_site_figures _rallo_site_figures(const rallo_site_sums *sums);
uint64_t _rallo_peak_live_bytes(void) rallo_report_api;
/* A lock the census and snapshots take against fork, and the atfork handlers. */
void _rallo_counters_atfork_prepare(void) rallo_internal;
void _rallo_counters_atfork_parent(void) rallo_internal;
void _rallo_counters_atfork_child(void) rallo_internal;

/* Fixed point for weighted counts: one unsampled object is 1 << 16. */
#define RALLO_COUNT_ONE 65536ull
/* _rallo_weight with its common case, every allocation tracked, inline. */
static inline void _rallo_weight_of(rallo_epoch epoch, uint64_t size, uint64_t *count_fp, uint64_t *bytes) {
    if (rallo_likely(epoch == 0)) {
        *count_fp = RALLO_COUNT_ONE;
        *bytes = size;
        return;
    }
    _rallo_weight(epoch, size, count_fp, bytes);
}

static inline uint64_t _rallo_count_from_fp(uint64_t fp) {
    return (fp + RALLO_COUNT_ONE / 2) >> 16;
}

static inline rallo_site_figures _rallo_site_figures(const rallo_site_sums *sums) {
    rallo_site_figures figures = {
        .alloc_count = _rallo_count_from_fp(sums->alloc_count),
        .alloc_bytes = sums->alloc_bytes,
        .free_count = _rallo_count_from_fp(sums->free_count),
        .free_bytes = sums->free_bytes,
        .live_count = sums->alloc_count > sums->free_count
                          ? _rallo_count_from_fp(sums->alloc_count - sums->free_count)
                          : 0,
        .live_bytes = sums->alloc_bytes > sums->free_bytes ? sums->alloc_bytes - sums->free_bytes : 0,
    };
    return figures;
}

/* ---- peak consumers (peak.c) ----
 * Per-site live bytes as they stood when the process-wide live bytes peaked:
 * re-taken only when the peak has grown by 1% since the last one, never
 * waiting for a lock (a busy copy is skipped; the next new peak retries). */
void _rallo_peak_note(uint64_t live_bytes) rallo_internal; /* from live_bytes_flush on a new peak */
void _rallo_peak_atfork_prepare(void) rallo_internal; /* fork: waits for a copy in progress */
void _rallo_peak_atfork_release(void) rallo_internal;
/* Copies live bytes per site at the recorded peak into out[0..n) (out[i] is
 * site i), zeroing the rest; *at_peak: the process-wide live bytes then.
 * Returns how many sites the peak copy covers (0: none taken yet). */
uint32_t _rallo_peak_sites(uint64_t *out, uint32_t n, uint64_t *at_peak) rallo_report_api;

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

/* An unsampled allocation, or free, counted in this thread's own counters of
 * its site, and in the thread's batch of live bytes (flushed past its limit:
 * an allocation only raises the batch, a free only lowers it). */
static inline void _rallo_own_count_alloc(rallo_thread_state *thread, rallo_site_counters *counters,
                                          uint64_t size) {
    _rallo_counter_bump(&counters->alloc_count_fp, RALLO_COUNT_ONE);
    _rallo_counter_bump(&counters->alloc_bytes, size);
    thread->pending_live_bytes += (int64_t)size;
    if (rallo_unlikely(thread->pending_live_bytes > thread->live_flush_limit))
        _rallo_live_bytes_flush(thread);
}
static inline void _rallo_own_count_free(rallo_thread_state *thread, rallo_site_counters *counters,
                                         uint64_t size) {
    _rallo_counter_bump(&counters->free_count_fp, RALLO_COUNT_ONE);
    _rallo_counter_bump(&counters->free_bytes, size);
    thread->pending_live_bytes -= (int64_t)size;
    if (rallo_unlikely(thread->pending_live_bytes < -thread->live_flush_limit))
        _rallo_live_bytes_flush(thread);
}

/* _rallo_count_alloc for a site capture just found: its counters come from
 * the memo slot, looked up once per slot and kept there. */
static inline void _rallo_count_alloc_at(rallo_site_ref site, uint64_t size, rallo_epoch epoch) {
    rallo_thread_state *thread = &_rallo_thread;
    rallo_site_counters *counters = site.slot != NULL ? site.slot->counters : NULL;
    if (rallo_unlikely(counters == NULL)) {
        counters = _rallo_own_counters(thread, site.site_id);
        if (site.slot != NULL)
            site.slot->counters = counters;
    }
    if (rallo_unlikely(counters == NULL) || rallo_unlikely(epoch != 0)) {
        _rallo_count_alloc_slow(site.site_id, size, epoch);
        return;
    }
    _rallo_own_count_alloc(thread, counters, size);
}

static inline void _rallo_count_alloc(uint32_t site_id, uint64_t size, rallo_epoch epoch) {
    _rallo_count_alloc_at((rallo_site_ref){.site_id = site_id, .slot = NULL}, size, epoch);
}

static inline void _rallo_count_free(uint32_t site_id, uint64_t size, rallo_epoch epoch) {
    rallo_thread_state *thread = &_rallo_thread;
    rallo_site_counters *counters = _rallo_own_counters(thread, site_id);
    if (rallo_unlikely(counters == NULL) || rallo_unlikely(epoch != 0)) {
        _rallo_count_free_slow(site_id, size, epoch);
        return;
    }
    _rallo_own_count_free(thread, counters, size);
}

#endif
