/* tracked.c - the tracked path: a sampled allocation gets its call site, a
 * block in this thread's arena heap with a header naming site and size, and
 * its counters; free reads the header back and subtracts exactly what was
 * added. Whatever cannot be tracked is served untracked and counted.
 *
 * Call map of a malloc, file:function, in the order it runs:
 *   allocator/alloc.c:malloc -> allocator/fastpath.h:rallo_malloc, rallo_malloc_sized
 *     tracking off, or the sampler skips it (tracking/tracking.h:_rallo_sample_skips):
 *     mimalloc's mi_malloc, and that is all.
 *   sampler:  tracked.c:_rallo_tracked_malloc -> tracked_alloc -> tracking/tracking.h:
 *             _rallo_sample_now (tracking/sampler.c:_rallo_sample when sampling)
 *   arena:    allocator/arena.c:_rallo_arena_heap
 *   capture:  tracking/unwind/unwind_fp.h:_rallo_capture_site_here -> _rallo_capture_fp
 *             -> _rallo_fp_walk_quick (RALLO_UNWIND=dwarf: unwind/unwind.c:_rallo_capture_site)
 *   memo:     tracking/memo.h:_rallo_memo_entry, _rallo_memo_hit; on a miss
 *   depot:    tracking/unwind/unwind.c:_rallo_capture_fp_miss -> tracking/depot.c:
 *             _rallo_depot_intern_hashed, then memo.h:_rallo_memo_fill
 *   header:   tracked.c:block_alloc -> header_write (allocator/alloc-internal.h:rallo_header_magic)
 *   counters: tracking/counters.h:_rallo_count_alloc_captured -> _rallo_count_alloc_own
 *             (counters.c:_rallo_count_alloc_slow for sampled blocks and first uses)
 * free: alloc.c:free -> fastpath.h:rallo_free (allocator/alloc-internal.h:rallo_in_arena)
 *   -> tracked.c:_rallo_tracked_free: the header read inline, counters.h:_rallo_count_free_own;
 *   RALLO_LIFETIMES or RALLO_FREE_SITES: free_with_extras (tracking/lifetime.h,
 *   the free stack captured as above and counted by tracking/free_sites.h);
 *   aligned, sampled or bad blocks: tracked_free_other -> header.c:_rallo_block_of
 *   -> counters.h:_rallo_count_free. */
#include <errno.h>
#include <string.h>

#include "../tracking/free_sites.h"
#include "../tracking/lifetime.h"
#include "../tracking/unwind/unwind_fp.h"
#include "fastpath.h"

static inline void header_write(void *at, uint32_t site_id, uint64_t info) {
    rallo_header *header = at;
    header->site_id = site_id;
    header->info = info;
    header->magic = rallo_header_magic(at, site_id, info);
}

/* The header(s) of a tracked block: a small block's one header (the thread
 * slot in its site word, the stamp in its info), or, for a linked block (large
 * or aligned), the header at the start and the link just before the user
 * pointer (the user pointer's offset, the stamp and the slot). */
static inline __attribute__((always_inline)) void block_headers_write(char *start, char *user, bool linked,
                                                                      uint32_t site_id, size_t size,
                                                                      rallo_epoch epoch, uint64_t stamp,
                                                                      uint32_t slot) {
    if (!linked) {
        header_write(start, rallo_small_site_word(site_id, slot), rallo_small_info(size, epoch, stamp));
        return;
    }
    header_write(start, site_id, rallo_info_of(size, epoch) | RALLO_INFO_ALIGNED);
    header_write((rallo_header *)user - 1, (uint32_t)(user - start),
                 RALLO_INFO_LINK | (stamp & RALLO_LT_STAMP_MASK) | (uint64_t)slot << RALLO_INFO_SLOT_SHIFT);
}

/* Allocates the block and writes its header(s); returns the user pointer.
 * The header records the requested size, but the block holds at least 16
 * usable bytes after it, as an untracked block does: programs write a
 * terminator into malloc(0). `stamp` and `slot`: when and by which thread
 * (tracking/lifetime.h; both 0 unless lifetimes are on). */
static rallo_noinline void *block_alloc_linked(mi_heap_t *heap, size_t size, size_t alignment, bool zero,
                                               uint32_t site_id, rallo_epoch epoch, uint64_t stamp,
                                               uint32_t slot) {
    /* Over-allocate with plain mimalloc blocks (a heap walk then sees the real
     * start, where the header is) and place the user pointer at the alignment,
     * the stamp in the link before it. */
    if (alignment < 16)
        alignment = 16;
    size_t total = at_least_16(size) + alignment + RALLO_HEADER_SIZE;
    char *start = zero ? mi_heap_zalloc(heap, total) : mi_heap_malloc(heap, total);
    if (start == NULL)
        return NULL;
    uintptr_t user = ((uintptr_t)start + 2 * RALLO_HEADER_SIZE + alignment - 1) & ~(uintptr_t)(alignment - 1);
    block_headers_write(start, (char *)user, true, site_id, size, epoch, stamp, slot);
    return (void *)user;
}

static inline __attribute__((always_inline)) void *block_alloc(mi_heap_t *heap, size_t size, size_t alignment,
                                                               bool zero, uint32_t site_id, rallo_epoch epoch,
                                                               uint64_t stamp, uint32_t slot) {
    if (rallo_unlikely(alignment > 16) || rallo_unlikely(size >= RALLO_SMALL_SIZE_LIMIT))
        return block_alloc_linked(heap, size, alignment, zero, site_id, epoch, stamp, slot);
    size_t room = at_least_16(size);
    void *start = zero ? mi_heap_zalloc(heap, room + RALLO_HEADER_SIZE)
                       : mi_heap_malloc(heap, room + RALLO_HEADER_SIZE);
    if (start == NULL)
        return NULL;
    rallo_assert_hot(rallo_in_arena(start) && rallo_in_arena((char *)start + room + RALLO_HEADER_SIZE - 1));
    block_headers_write(start, (char *)start + RALLO_HEADER_SIZE, false, site_id, size, epoch, stamp, slot);
    return (char *)start + RALLO_HEADER_SIZE;
}

/* The tracked allocation once the sampler has taken it, inlined into each
 * entry below so that malloc's own (alignment 16, not zeroed) loses the
 * branches it never takes. */
static inline __attribute__((always_inline)) void *tracked_alloc_as(size_t size, size_t alignment, bool zero,
                                                                    rallo_epoch epoch) {
    if (rallo_unlikely(size > RALLO_SIZE_MAX)) {
        _rallo_count_untracked(RALLO_UNTRACKED_TOO_LARGE);
        return plain_alloc(size, alignment, zero);
    }
    if (rallo_unlikely(alignment > RALLO_TRACKED_ALIGN_MAX)) {
        _rallo_count_untracked(RALLO_UNTRACKED_ALIGNMENT);
        return plain_alloc(size, alignment, zero);
    }
    mi_heap_t *heap = _rallo_arena_heap();
    if (rallo_unlikely(heap == NULL))
        return plain_alloc(size, alignment, zero);
    _rallo_guard_enter();
    rallo_site_ref site = _rallo_capture_site_here();
    /* Two copies of block_alloc: without lifetimes or free sites, stamp and
     * slot are the constant 0 and the header is written as cheaply as before
     * them (free sites need the slot, to tell a free by another thread). */
    uint8_t extras = _rallo_options.block_extras;
    void *user;
    if (rallo_likely(extras == 0)) {
        user = block_alloc(heap, size, alignment, zero, site.site_id, epoch, 0, 0);
        if (rallo_likely(user != NULL))
            _rallo_count_alloc_captured(site, size, epoch);
    } else {
        user =
            block_alloc(heap, size, alignment, zero, site.site_id, epoch, _rallo_lt_now(), _rallo_lt_slot());
        if (rallo_likely(user != NULL)) {
            _rallo_count_alloc_captured(site, size, epoch);
            if (rallo_likely(_rallo_lt_on()))
                _rallo_lt_alloc(user, site.site_id, size, epoch);
        }
    }
    _rallo_guard_leave();
    if (rallo_unlikely(user == NULL)) {
        _rallo_count_untracked(RALLO_UNTRACKED_ARENA_FULL);
        return plain_alloc(size, alignment, zero);
    }
    return user;
}

/* The sampler is asked even for rallo's own allocations (the guard held), so
 * that it sets the countdown again; they stay untracked. */
static inline __attribute__((always_inline)) void *tracked_alloc(size_t size, size_t alignment, bool zero) {
    int taken = _rallo_sampler_take_expired(size);
    if (taken == RALLO_SAMPLE_NOT_TAKEN || _rallo_thread.guard != 0)
        return plain_alloc(size, alignment, zero);
    return tracked_alloc_as(size, alignment, zero, (rallo_epoch)taken);
}

void *_rallo_tracked_alloc(size_t size, size_t alignment, bool zero) {
    return tracked_alloc(size, alignment, zero);
}

void *_rallo_tracked_malloc(size_t size) {
    return tracked_alloc(size, 16, false);
}

static void block_release(const rallo_block *block, void *p) {
    _rallo_count_free(block->site_id, block->size, block->epoch);
    if (rallo_unlikely(_rallo_lt_on()))
        _rallo_lt_free(p, block->site_id, block->size, block->epoch, block->slot, block->stamp);
    if (rallo_unlikely(_rallo_fs_on()))
        _rallo_fs_count_here(block->site_id, block->size, block->epoch, block->slot);
    /* Clear the magic (and mark the header freed) before mimalloc reuses it. */
    rallo_header *header = block->start;
    header->info |= RALLO_INFO_FREED;
    header->magic = 0;
    if ((char *)p - (char *)block->start != (ptrdiff_t)RALLO_HEADER_SIZE) {
        /* The link too: a second free of p must see FREED here, or it would
         * hand mimalloc p itself, an interior pointer. */
        rallo_header *link = (rallo_header *)p - 1;
        link->info |= RALLO_INFO_FREED;
        link->magic = 0;
    }
    mi_free(block->start);
}

/* p (in the arena, without a valid header) is a tracked block already freed:
 * its header, or its link record, carries the FREED mark. */
static bool freed_tracked_block(void *p) {
    rallo_header *header = (rallo_header *)p - 1;
    return ((uintptr_t)p & 15) == 0 && rallo_in_arena(header) && (header->info & RALLO_INFO_FREED) != 0;
}

/* p is in the arena and its header does not validate: counted, and handed to
 * mimalloc only if it starts a mimalloc block (a plain block mimalloc placed
 * in the arena). Anything else (a second free, a pointer into a block, a
 * tracked block whose header was overwritten) would be an interior pointer on
 * mimalloc's free list: dropped. */
static void bad_header_free(void *p) {
    _rallo_count_untracked(RALLO_UNTRACKED_BAD_HEADER);
    rallo_extent extent;
    if (_rallo_block_place(p, &extent) == RALLO_PLACE_START)
        mi_free(p);
}

/* Every free in the arena but the common one: aligned blocks, headers that
 * fail (double frees, plain blocks), counting that needs counters.c. */
static rallo_noinline void tracked_free_other(void *p) {
    rallo_block block;
    if (rallo_likely(_rallo_block_of(p, &block))) {
        block_release(&block, p);
        return;
    }
    bad_header_free(p);
}

/* The end of _rallo_tracked_free with RALLO_LIFETIMES or RALLO_FREE_SITES
 * on, out of line (and reached by a tail call) so that the common free keeps
 * no more registers than it did: the header, just marked freed, is read
 * again. */
static rallo_noinline void free_with_free_site(void *p) {
    const rallo_header *header = (const rallo_header *)p - 1;
    uint32_t site_word = header->site_id;
    uint64_t info = header->info;
    uint32_t site_id = site_word & RALLO_SITE_ID_MASK;
    if (_rallo_lt_on())
        _rallo_lt_free(p, site_id, rallo_small_size(info), 0, rallo_small_slot(site_word),
                       rallo_small_stamp(info));
    _rallo_fs_count_here(site_id, rallo_small_size(info), 0, rallo_small_slot(site_word));
    mi_free((rallo_header *)p - 1);
}

static rallo_noinline void free_with_extras(void *p) {
    if (rallo_unlikely(_rallo_fs_on())) {
        free_with_free_site(p);
        return;
    }
    const rallo_header *header = (const rallo_header *)p - 1;
    uint32_t site_word = header->site_id;
    uint64_t info = header->info;
    _rallo_lt_free(p, site_word & RALLO_SITE_ID_MASK, rallo_small_size(info), 0, rallo_small_slot(site_word),
                   rallo_small_stamp(info));
    mi_free((rallo_header *)p - 1);
}

void _rallo_tracked_free(void *p) {
    /* The common case, with no call but the last: a plain (not aligned),
     * unsampled tracked block whose header checks out, counted in this
     * thread's own counters, marked freed and handed back. */
    rallo_header *header = (rallo_header *)p - 1;
    if (rallo_unlikely(((uintptr_t)p & 15) != 0)) {
        tracked_free_other(p);
        return;
    }
    uint32_t site_word = header->site_id;
    uint32_t site_id = site_word & RALLO_SITE_ID_MASK;
    uint64_t info = header->info;
    rallo_thread_state *thread = &_rallo_thread;
    rallo_site_counters *counters = _rallo_own_counters(thread, site_id);
    if (rallo_unlikely(header->magic != rallo_header_magic(header, site_word, info)) ||
        rallo_unlikely((info & (RALLO_INFO_LINK | RALLO_INFO_FREED | RALLO_INFO_EPOCH_MASK)) != 0) ||
        rallo_unlikely(counters == NULL)) {
        tracked_free_other(p);
        return;
    }
    header->info = info | RALLO_INFO_FREED;
    header->magic = 0;
    uint64_t size = rallo_small_size(info);
    _rallo_count_free_own(thread, counters, size);
    if (rallo_unlikely(_rallo_options.block_extras)) {
        free_with_extras(p);
        return;
    }
    mi_free(header);
}

size_t _rallo_tracked_usable_size(void *p) {
    rallo_block block;
    if (_rallo_block_of(p, &block))
        return mi_usable_size(block.start) - (size_t)((char *)p - (char *)block.start);
    /* Not a tracked block: a plain block mimalloc placed in the arena, or a
     * pointer into a block, which holds only the rest of its block. */
    rallo_extent extent;
    switch (_rallo_block_place(p, &extent)) {
    case RALLO_PLACE_START: return mi_usable_size(p);
    case RALLO_PLACE_INSIDE: return (size_t)((char *)extent.end - (char *)p);
    default: return 0;
    }
}

/* realloc of p, in the arena, whose header does not validate and which does
 * not start a block: never handed to mimalloc. A fresh block, holding what p
 * still holds of its block (nothing if it was freed), the misuse counted. */
static rallo_noinline void *misused_realloc(void *p, size_t size, bool want_tracked, rallo_epoch epoch,
                                            const rallo_extent *extent) {
    _rallo_count_untracked(RALLO_UNTRACKED_BAD_HEADER);
    size_t kept = 0;
    if (extent->end != NULL && !freed_tracked_block(p))
        kept = (size_t)((char *)extent->end - (char *)p);
    void *fresh = want_tracked ? tracked_alloc_as(size, 16, false, epoch) : plain_alloc(size, 16, false);
    if (fresh != NULL)
        memcpy(fresh, p, kept < size ? kept : size);
    return fresh;
}

/* p is in the arena (the fast path ran no countdown), or the countdown ran
 * out on this reallocation. */
void *_rallo_tracked_realloc(void *p, size_t size) {
    rallo_block old;
    bool in_arena = rallo_in_arena(p);
    bool ran_out = !in_arena || (atomic_load_explicit(&_rallo_tracking_on, memory_order_relaxed) != 0 &&
                                 _rallo_countdown_runs_out(size));
    int taken = ran_out ? _rallo_sampler_take_expired(size) : RALLO_SAMPLE_NOT_TAKEN;
    bool want_tracked = taken != RALLO_SAMPLE_NOT_TAKEN && _rallo_thread.guard == 0;
    rallo_epoch epoch = want_tracked ? (rallo_epoch)taken : 0;
    bool old_tracked = in_arena && _rallo_block_of(p, &old);
    if (in_arena && !old_tracked) {
        rallo_extent extent;
        if (_rallo_block_place(p, &extent) != RALLO_PLACE_START)
            return misused_realloc(p, size, want_tracked, epoch, &extent);
    }
    /* From here on, p is a tracked block or starts a plain one. */
    if (!old_tracked && !want_tracked)
        return plain_realloc(p, size);
    /* In place keeps the user pointer's distance from the block start: 16
     * for a small block, 32 for a large one with its link (rallo_header). */
    size_t offset = old_tracked ? (size_t)((char *)p - (char *)old.start) : 0;
    bool small = size < RALLO_SMALL_SIZE_LIMIT;
    if (old_tracked && want_tracked && offset == (small ? 1 : 2) * RALLO_HEADER_SIZE &&
        size <= RALLO_SIZE_MAX) {
        mi_heap_t *heap = _rallo_arena_heap();
        if (heap != NULL) {
            /* Resize in the arena, in place when mimalloc can: one free of the old
             * block and one allocation at this call site, as valgrind counts. */
            _rallo_guard_enter();
            rallo_site_ref site = _rallo_capture_site_here();
            char *start = mi_heap_realloc(heap, old.start, at_least_16(size) + offset);
            if (start != NULL) {
                _rallo_count_free(old.site_id, old.size, old.epoch);
                bool lifetimes = _rallo_lt_on();
                if (lifetimes)
                    _rallo_lt_free(p, old.site_id, old.size, old.epoch, old.slot, old.stamp);
                /* realloc frees the old block where it allocates the new one. */
                if (_rallo_fs_on())
                    _rallo_fs_count(old.site_id, site.site_id, old.size, old.epoch, old.slot);
                _rallo_count_alloc_captured(site, size, epoch);
                bool extras = _rallo_options.block_extras;
                uint64_t stamp = extras ? _rallo_lt_now() : 0;
                uint32_t slot = extras ? _rallo_lt_slot() : 0;
                block_headers_write(start, start + offset, !small, site.site_id, size, epoch, stamp, slot);
                if (lifetimes)
                    _rallo_lt_alloc(start + offset, site.site_id, size, epoch);
            }
            _rallo_guard_leave();
            if (start != NULL)
                return start + offset;
            _rallo_count_untracked(RALLO_UNTRACKED_ARENA_FULL);
            /* the arena is full: an untracked copy below */
        }
        want_tracked = false;
    }
    /* Across modes (or an aligned block): a new block, a copy, a free. */
    size_t old_size = old_tracked ? old.size : mi_usable_size(p);
    void *fresh = want_tracked ? tracked_alloc_as(size, 16, false, epoch) : plain_alloc(size, 16, false);
    if (fresh == NULL)
        return NULL;
    memcpy(fresh, p, old_size < size ? old_size : size);
    if (old_tracked)
        block_release(&old, p);
    else if (in_arena)
        _rallo_tracked_free(p);
    else
        mi_free(p);
    return fresh;
}
