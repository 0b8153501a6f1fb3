/* alloc-internal.h - what the files of allocator/ share: the tracked arena's
 * bounds, the block header, and the tracked path's functions. */
#ifndef RALLO_ALLOC_INTERNAL_H
#define RALLO_ALLOC_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mimalloc.h>

#include "../tracking/tracking.h"

/* ---- the tracked arena (arena.c) ----
 * free() asks "is this pointer in the arena?" with these two words. The start
 * is written before the size (release), and read after it (acquire): a reader
 * that sees a size sees its start; one that sees 0 sends nothing to the arena. */
extern _Atomic uintptr_t _rallo_arena_start rallo_internal;
extern _Atomic uintptr_t _rallo_arena_size rallo_internal;

static inline bool rallo_in_arena(const void *p) {
    uintptr_t size = atomic_load_explicit(&_rallo_arena_size, memory_order_acquire);
    uintptr_t start = atomic_load_explicit(&_rallo_arena_start, memory_order_relaxed);
    return (uintptr_t)p - start < size;
}

/* This thread's heap in the arena, created on first use; NULL (with the reason
 * counted) when the thread is past its exit cleanup or there is no arena. */
mi_heap_t *_rallo_arena_heap(void) rallo_internal;
/* This thread's arena heap if it has one and is not past its exit cleanup;
 * never creates one (the census walks it). */
mi_heap_t *_rallo_arena_heap_if_any(void) rallo_internal;
/* Reserves the arena, if not yet; 0, or -1 after one line on stderr (the
 * first time). Called by _rallo_start only, under its lock. */
int _rallo_arena_reserve(void) rallo_internal;

/* ---- the census (census.c): rallo_census, include/rallo.h ---- */
int _rallo_census(rallo_site_fn fn, void *arg) rallo_internal;

/* ---- tracking's start (start.c) ---- */
/* Once a process, on the first enable: the unwinder, the depot, the arena.
 * 0, or -1 with errno ENOMEM (after one line on stderr, the first time). */
int _rallo_start(void) rallo_internal;
/* Fork: the start's lock taken before, released after (init.c). */
void _rallo_start_atfork_prepare(void) rallo_internal;
void _rallo_start_atfork_release(void) rallo_internal;

/* ---- the block header (header.c) ----
 * Every tracked block starts with a 16-byte header; the user pointer follows it.
 *   magic   : 32 bits keyed by a per-process secret, the header's address and
 *             the other fields; cleared on free
 *   site_id : bits 0-23 the site (for a LINK record: the distance back to the
 *             block start), 24-31 the thread slot (small blocks)
 *   info    : bits 40-47 sample epoch, 48-50 flags, and
 *             small block (ALIGNED clear): 0-11 requested size, 12-39 stamp
 *               bits 0-27, 51-63 stamp bits 28-38
 *             ALIGNED block start: 0-39 requested size
 *             LINK record: 0-38 stamp, 54-63 thread slot
 * The stamp (tracking/lifetime.h) is when the block was allocated; the slot,
 * which thread allocated it. A block of RALLO_SMALL_SIZE_LIMIT bytes or more,
 * like an aligned one, keeps its header at the block start (where a heap walk
 * finds it) and a LINK record in the 16 bytes before the user pointer: the
 * 16 bytes more cost little beside its size, and free a small block's size
 * bits for its stamp. */
typedef struct rallo_header {
    uint32_t magic;
    uint32_t site_id;
    uint64_t info;
} rallo_header;

/* The layout the heap walk, the free path and 16-byte alignment rely on. */
_Static_assert(sizeof(rallo_header) == 16, "a block header is 16 bytes");
_Static_assert(offsetof(rallo_header, site_id) == 4 && offsetof(rallo_header, info) == 8,
               "magic, site id, info, in that order");
#define RALLO_HEADER_SIZE ((size_t)sizeof(rallo_header))
#define RALLO_SIZE_MAX ((1ull << 40) - 1)
#define RALLO_INFO_ALIGNED (1ull << 48) /* header of an aligned block */
#define RALLO_INFO_LINK (1ull << 49)    /* back-link before an aligned user pointer */
#define RALLO_INFO_FREED (1ull << 50)   /* set on free, so a double free is seen */
#define RALLO_INFO_EPOCH_SHIFT 40
#define RALLO_INFO_EPOCH_MASK (0xffull << RALLO_INFO_EPOCH_SHIFT)
/* ---- lifetimes: the stamp and thread slot (issue 15) ---- */
#define RALLO_SMALL_SIZE_LIMIT 4096u
#define RALLO_SITE_ID_MASK 0xffffffu
#define RALLO_INFO_SLOT_SHIFT 54
static inline uint64_t rallo_small_info(uint64_t size, rallo_epoch epoch, uint64_t stamp) {
    return size | (stamp & 0xfffffffull) << 12 | (uint64_t)epoch << RALLO_INFO_EPOCH_SHIFT |
           (stamp >> 28) << 51;
}
static inline uint32_t rallo_small_site_word(uint32_t site_id, uint32_t slot) {
    return site_id | slot << 24;
}
static inline uint64_t rallo_small_stamp(uint64_t info) {
    return ((info >> 12) & 0xfffffffull) | (info >> 51) << 28;
}
static inline uint32_t rallo_small_slot(uint32_t site_word) {
    return site_word >> 24;
}
static inline uint64_t rallo_small_size(uint64_t info) {
    return info & (RALLO_SMALL_SIZE_LIMIT - 1);
}
static inline uint32_t rallo_info_slot(uint64_t info) {
    return (uint32_t)(info >> RALLO_INFO_SLOT_SHIFT);
}
/* ---- end lifetimes ---- */
/* The largest alignment tracked: larger ones would waste the arena. */
#define RALLO_TRACKED_ALIGN_MAX ((size_t)1 << 20)

extern uint64_t _rallo_secret rallo_internal;

static inline uint32_t rallo_header_magic(const void *at, uint32_t site_id, uint64_t info) {
    /* One multiply (it runs on every tracked malloc and free): the product's
     * high half depends on every bit of the keyed word, so a header moved to
     * another address or altered, like random bytes, passes with odds ~2^-31,
     * and without the secret no magic can be computed ahead. */
    uint64_t keyed = ((uint64_t)(uintptr_t)at ^ _rallo_secret) ^ info ^ ((uint64_t)site_id << 20);
    /* Never 0, which marks a freed header: the low bit is given up for that. */
    return (uint32_t)((keyed * 0x9E3779B97F4A7C15ull) >> 32) | 1u;
}

static inline uint64_t rallo_info_of(uint64_t size, rallo_epoch epoch) {
    rallo_assert_hot(size <= RALLO_SIZE_MAX);
    return size | ((uint64_t)epoch << RALLO_INFO_EPOCH_SHIFT);
}
static inline uint64_t rallo_info_size(uint64_t info) {
    return info & RALLO_SIZE_MAX;
}
static inline rallo_epoch rallo_info_epoch(uint64_t info) {
    return (rallo_epoch)(info >> RALLO_INFO_EPOCH_SHIFT);
}

typedef struct rallo_block {
    void *start; /* what mimalloc handed out */
    uint32_t site_id;
    uint64_t size; /* requested */
    rallo_epoch epoch;
    bool stamped;   /* stamp and slot known (not from a block start of a LINKed block) */
    uint32_t slot;  /* the allocating thread's slot */
    uint64_t stamp; /* when it was allocated */
} rallo_block;

/* Finds and validates the header of user pointer p (inside the arena). */
bool _rallo_block_of(void *p, rallo_block *out) rallo_internal;
/* Validates a header at a block start, as a heap walk sees it. */
bool _rallo_block_at_start(void *start, rallo_block *out) rallo_internal;

/* ---- where a block starts (block-start.c) ---- */
typedef enum rallo_place {
    RALLO_PLACE_UNKNOWN, /* nothing known: keep the pointer away from mimalloc */
    RALLO_PLACE_START,   /* the start of a mimalloc block */
    RALLO_PLACE_INSIDE,  /* inside a block, not at its start */
} rallo_place;
typedef struct rallo_extent {
    void *start; /* the block's start, NULL if not known */
    void *end;   /* bytes from the pointer up to here are the block's */
} rallo_extent;
/* Where p (in the arena) lies in mimalloc's block holding it; unknown until
 * the layout has been checked on real blocks of this thread's arena heap
 * (the first call does it), and for good if the check failed. */
rallo_place _rallo_block_place(const void *p, rallo_extent *out) rallo_internal;
void _rallo_block_layout_atfork_child(void) rallo_internal;

/* ---- the tracked path (tracked.c) ---- */
void *_rallo_tracked_alloc(size_t size, size_t alignment, bool zero) rallo_internal;
void *_rallo_tracked_malloc(size_t size) rallo_internal; /* alignment 16, not zeroed */
void _rallo_tracked_free(void *p) rallo_internal;
void *_rallo_tracked_realloc(void *p, size_t size) rallo_internal;
size_t _rallo_tracked_usable_size(void *p) rallo_internal;

#endif
