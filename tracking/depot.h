/* depot.h - the stack depot (depot.c): every distinct stack of return
 * addresses stored once and named by a 32-bit site id; and the stack hash
 * the depot and the memo key stacks by. */
#ifndef RALLO_DEPOT_H
#define RALLO_DEPOT_H

#include <stdbool.h>
#include <stdint.h>

#include "internal/compiler.h"

/* Site ids: 0 is "no site"; 1 collects stacks that found the depot full. */
#define RALLO_SITE_NONE 0u
#define RALLO_SITE_OTHER 1u
#define RALLO_SITE_FIRST 2u
#define RALLO_MAX_DEPTH 128

/* The frames of a site: leaf first; NULL/0 for an unknown id. */
const uintptr_t *_rallo_site_frames(uint32_t site_id, uint32_t *depth) rallo_internal;
uint32_t _rallo_site_count(void) rallo_internal; /* one past the highest site id */
uint32_t _rallo_depot_intern(const uintptr_t *pcs, uint32_t depth) rallo_internal;
/* The same, with the stack's hash already computed (by the unwinder, as it
 * walks) with the steps below. */
uint32_t _rallo_depot_intern_hashed(const uintptr_t *pcs, uint32_t depth, uint64_t hash) rallo_internal;
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

/* ---- the stack hash ---- */
#define RALLO_STACK_HASH_SEED 0x84222325cbf29ce4ull
/* Two instructions a frame while walking, then a finish that spreads the
 * bits (memo.h says how far the hash alone is trusted). */
#define RALLO_STACK_HASH_K 0x9E3779B97F4A7C15ull
static inline uint64_t _rallo_stack_hash_step(uint64_t hash, uintptr_t pc) {
    return (hash + pc) * RALLO_STACK_HASH_K;
}
/* K^64 (mod 2^64), by six squarings the compiler folds: the quick walk's lift
 * of its second hash (unwind/unwind_fp.h). */
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

#endif
