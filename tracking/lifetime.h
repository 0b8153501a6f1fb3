/* lifetime.h - what tracking/ records beyond live bytes: per thread (tid and
 * name, kept after it exits) and per site, the sizes asked for (log2 buckets),
 * the lifetimes of freed blocks (log2 ns buckets), temporary allocations, and
 * the allocating thread's counts. Each thread writes its own record with plain
 * stores; only a free of another thread's block adds atomically to the
 * allocating thread's record. Records are never taken back. */
#ifndef RALLO_LIFETIME_H
#define RALLO_LIFETIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <x86intrin.h>

#include "tracking.h"

#define RALLO_LT_SIZE_BUCKETS 41 /* floor(log2(size)) of sizes below 2^41; 0 in bucket 0 */
#define RALLO_LT_TIME_BUCKETS 44 /* floor(log2(ns)); the last takes everything longer */
/* Thread slots: 0 is shared by the threads past the last slot (atomic adds). */
#define RALLO_LT_THREADS 256u
/* A stamp: the cycle counter in units of 2^4 cycles, 39 bits of it (hours). */
#define RALLO_LT_STAMP_SHIFT 4
#define RALLO_LT_STAMP_BITS 39
#define RALLO_LT_STAMP_MASK ((1ull << RALLO_LT_STAMP_BITS) - 1)
/* Sites a leaf holds. */
#define RALLO_LT_LEAF_SITES 32u

typedef struct rallo_lt_site {
    /* By the owning thread, of the blocks it allocated (weighted counts); its
     * allocations are counted by size_log2, its own frees by life_log2 less
     * foreign_count_weight. */
    _Atomic uint64_t alloc_bytes;
    _Atomic uint64_t free_bytes;                      /* freed by the owner */
    _Atomic uint64_t xfree_count_weight, xfree_bytes; /* freed by other threads: atomic adds */
    _Atomic uint64_t temp_count_weight, temp_bytes;
    _Atomic uint64_t foreign_count_weight; /* frees by the owner of other threads' blocks */
    _Atomic uint64_t size_log2[RALLO_LT_SIZE_BUCKETS];
    /* Lifetimes of the blocks of this site the owner freed, whoever allocated them. */
    _Atomic uint64_t life_log2[RALLO_LT_TIME_BUCKETS];
} rallo_lt_site;

typedef struct rallo_lt_leaf {
    rallo_lt_site sites[RALLO_LT_LEAF_SITES];
} rallo_lt_leaf;

typedef struct rallo_lt_thread {
    int32_t tid;
    _Atomic int exited;
    char name[16];
    uint32_t leaf_count;
    _Atomic(rallo_lt_leaf *) *leaves; /* leaf_count of them, mapped: untouched ones cost nothing */
} rallo_lt_thread;

/* This thread's part: its record and slot, and its last tracked allocation
 * while it has allocated nothing since (with the sampler's countdown then,
 * which any allocation in between, sampled or not, moves). */
typedef struct rallo_lt_tls {
    rallo_lt_thread *record;
    uint32_t slot;
    void *last_alloc;
    int64_t last_countdown;
} rallo_lt_tls;
extern __thread rallo_lt_tls _rallo_lt __attribute__((tls_model("initial-exec"))) rallo_internal;

/* ns per stamp unit, in 1/2^32 ns, once the counter is calibrated. */
extern _Atomic uint64_t _rallo_lt_ns_per_unit_q32 rallo_internal;

/* RALLO_LIFETIMES, read once at load: when off, the tracked path pays one
 * predictable branch for all of this file and stamps nothing. */
static inline bool _rallo_lt_on(void) {
    return _rallo_options.lifetimes;
}
static inline uint64_t _rallo_lt_now(void) {
    return (__rdtsc() >> RALLO_LT_STAMP_SHIFT) & RALLO_LT_STAMP_MASK;
}
static inline uint32_t _rallo_lt_log2(uint64_t x) {
    return 63u - (uint32_t)__builtin_clzll(x | 1);
}
static inline uint32_t _rallo_lt_size_bucket(uint64_t size) {
    uint32_t k = _rallo_lt_log2(size);
    return k < RALLO_LT_SIZE_BUCKETS ? k : RALLO_LT_SIZE_BUCKETS - 1;
}
/* Stamp units to ns; units below 2^39 and the multiplier below 2^40 fit. */
static inline uint64_t _rallo_lt_units_ns(uint64_t units) {
    uint64_t per_unit = atomic_load_explicit(&_rallo_lt_ns_per_unit_q32, memory_order_relaxed);
    return (uint64_t)(((unsigned __int128)units * per_unit) >> 32);
}
static inline uint32_t _rallo_lt_time_bucket(uint64_t ns) {
    uint32_t k = _rallo_lt_log2(ns);
    return k < RALLO_LT_TIME_BUCKETS ? k : RALLO_LT_TIME_BUCKETS - 1;
}
/* A site's entry in a record; NULL when its leaf is not made yet. */
static inline rallo_lt_site *_rallo_lt_site_in(rallo_lt_thread *record, uint32_t site_id) {
    uint32_t leaf_index = site_id / RALLO_LT_LEAF_SITES;
    if (rallo_unlikely(leaf_index >= record->leaf_count))
        return NULL;
    rallo_lt_leaf *leaf = atomic_load_explicit(&record->leaves[leaf_index], memory_order_acquire);
    return rallo_likely(leaf != NULL) ? &leaf->sites[site_id % RALLO_LT_LEAF_SITES] : NULL;
}

/* This thread's slot for a header, registering the thread on first use (call
 * with the guard held: it allocates). */
uint32_t _rallo_lt_slot_slow(void) rallo_internal;
static inline uint32_t _rallo_lt_slot(void) {
    return rallo_likely(_rallo_lt.record != NULL) ? _rallo_lt.slot : _rallo_lt_slot_slow();
}

void _rallo_lt_alloc_slow(void *user, uint32_t site_id, uint64_t size, rallo_epoch epoch) rallo_internal;
void _rallo_lt_free_slow(const void *user, uint32_t site_id, uint64_t size, rallo_epoch epoch, uint32_t slot,
                         uint64_t stamp) rallo_internal;

/* A tracked allocation of `size` at `site_id`, returned to the program as `user`. */
static inline void _rallo_lt_alloc(void *user, uint32_t site_id, uint64_t size, rallo_epoch epoch) {
    rallo_lt_tls *tls = &_rallo_lt;
    rallo_lt_site *site = rallo_likely(tls->slot != 0) ? _rallo_lt_site_in(tls->record, site_id) : NULL;
    if (rallo_unlikely(site == NULL) || rallo_unlikely(epoch != 0)) {
        _rallo_lt_alloc_slow(user, site_id, size, epoch);
        return;
    }
    _rallo_counter_bump(&site->alloc_bytes, size);
    _rallo_counter_bump(&site->size_log2[_rallo_lt_size_bucket(size)], RALLO_COUNT_ONE);
    tls->last_alloc = user;
    tls->last_countdown = _rallo_thread.sample_countdown;
}

/* The free of a tracked block the header says `slot` allocated at `stamp`. */
static inline void _rallo_lt_free(const void *user, uint32_t site_id, uint64_t size, rallo_epoch epoch,
                                  uint32_t slot, uint64_t stamp) {
    rallo_lt_tls *tls = &_rallo_lt;
    rallo_lt_site *site = NULL;
    if (rallo_likely(slot == tls->slot) && rallo_likely(slot != 0) && rallo_likely(epoch == 0))
        site = _rallo_lt_site_in(tls->record, site_id);
    if (rallo_unlikely(site == NULL)) {
        _rallo_lt_free_slow(user, site_id, size, epoch, slot, stamp);
        return;
    }
    _rallo_counter_bump(&site->free_bytes, size);
    uint64_t units = (_rallo_lt_now() - stamp) & RALLO_LT_STAMP_MASK;
    _rallo_counter_bump(&site->life_log2[_rallo_lt_time_bucket(_rallo_lt_units_ns(units))], RALLO_COUNT_ONE);
    if (user == tls->last_alloc) {
        _rallo_counter_bump(&site->temp_count_weight, RALLO_COUNT_ONE);
        _rallo_counter_bump(&site->temp_bytes, size);
        tls->last_alloc = NULL;
    }
}

/* ---- the read side (lifetime.c) ---- */
/* Calibrates the cycle counter against CLOCK_MONOTONIC (once; ~0.5 ms of readings). */
void _rallo_lt_calibrate(void) rallo_internal;
/* Thread records made so far (slot 0 included); record(i) for i below that. */
uint32_t _rallo_lt_thread_count(void) rallo_internal;
const rallo_lt_thread *_rallo_lt_thread_record(uint32_t slot) rallo_internal;
/* A site's entry in a record for reading; NULL if the thread never touched it. */
const rallo_lt_site *_rallo_lt_thread_site(const rallo_lt_thread *record, uint32_t site_id) rallo_internal;
/* The current stamp, and stamp units as ns, for readers. */
uint64_t _rallo_lt_stamp_now(void) rallo_internal;
uint64_t _rallo_lt_ns_of_units(uint64_t units) rallo_internal;
/* A living thread's name, read now; false if it cannot be. */
bool _rallo_lt_thread_name(const rallo_lt_thread *record, char *out, size_t room) rallo_internal;

/* allocator/census-ages.c: adds the ages of the calling thread's live tracked
 * blocks into ages_weight[site * RALLO_LT_TIME_BUCKETS + bucket] (weighted counts)
 * for sites below nsites; 1 if the thread has a tracked heap, else 0. */
int _rallo_census_ages(uint64_t *ages_weight, uint32_t nsites) rallo_internal;

#endif
