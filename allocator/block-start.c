/* block-start.c - where the mimalloc block holding a pointer of the tracked
 * arena starts. Only pointers whose header fails to validate ask: a plain
 * block mimalloc placed in the arena starts at the pointer and is freed
 * plainly; anything else (a pointer into a block, a tracked block whose header
 * was overwritten, a second free) must never reach mimalloc, which would put
 * an interior pointer on its free list. mimalloc's API has no such query, so
 * the answer comes from mimalloc 2.0.9's page layout (segment.c,
 * mimalloc-types.h), checked on real blocks of the arena the first time it
 * is needed: if the check fails, no start is ever known and such pointers
 * are all kept away from mimalloc (a plain block there is then leaked, and
 * counted). */
#include <stdatomic.h>

#include "alloc-internal.h"

/* mimalloc 2.0.9 on 64-bit: a segment (32 MiB, aligned) is cut in 64 KiB
 * slices; its first slice holds the segment's own data. A page holds blocks of
 * one size: small pages (blocks up to 16 KiB) are one slice, and blocks of at
 * most 1 KiB start 384 bytes into it; medium pages (blocks up to 128 KiB) are 8
 * slices; a large or huge page (larger blocks) holds one block at its start.
 * Pages start at a slice boundary. */
#define SEGMENT_SIZE ((uintptr_t)32 << 20)
#define SLICE_SIZE ((uintptr_t)64 << 10)
#define SMALL_BLOCK_MAX ((size_t)16 << 10)
#define SMALL_OFFSET_BLOCK_MAX ((size_t)1024)
#define SMALL_PAGE_OFFSET ((uintptr_t)384)
#define MEDIUM_BLOCK_MAX ((size_t)128 << 10)
#define MEDIUM_PAGE_SLICES 8

/* Whether the layout above matched real blocks: checked on the first pointer
 * that asks (a bad free is rare; a program that never makes one pays
 * nothing, and valgrind, which takes over mimalloc's free, never sees the
 * check). */
enum { LAYOUT_UNCHECKED, LAYOUT_CHECKING, LAYOUT_HOLDS, LAYOUT_FAILS };
static _Atomic int layout_state = LAYOUT_UNCHECKED;

/* The block holding p in a page of blocks of `size` bytes starting at page;
 * false when p lies past the page's last block or before its first. */
static bool block_in_page(uintptr_t p, uintptr_t page, size_t size, size_t page_bytes, rallo_extent *out) {
    if (p < page)
        return false;
    uintptr_t index = (p - page) / size;
    if ((index + 1) * size > page_bytes)
        return false;
    out->start = (void *)(page + index * size);
    out->end = (void *)(page + (index + 1) * size);
    return true;
}

static rallo_place place_of(uintptr_t p, const rallo_extent *extent) {
    return (uintptr_t)extent->start == p ? RALLO_PLACE_START : RALLO_PLACE_INSIDE;
}

static rallo_place layout_place(const void *ptr, rallo_extent *out) {
    uintptr_t p = (uintptr_t)ptr;
    uintptr_t slice = p & ~(SLICE_SIZE - 1);
    if ((slice & (SEGMENT_SIZE - 1)) == 0)
        return RALLO_PLACE_UNKNOWN; /* the segment's own data */
    size_t size = mi_usable_size(ptr);
    if (size == 0)
        return RALLO_PLACE_UNKNOWN;
    if (size <= SMALL_BLOCK_MAX) {
        uintptr_t offset = size <= SMALL_OFFSET_BLOCK_MAX ? SMALL_PAGE_OFFSET : 0;
        if (!block_in_page(p, slice + offset, size, SLICE_SIZE - offset, out))
            return RALLO_PLACE_UNKNOWN;
        return place_of(p, out);
    }
    if (size <= MEDIUM_BLOCK_MAX) {
        /* The page starts at one of the 8 slices up to p's: an answer only
         * when every possible start gives the same block. */
        rallo_extent found = {NULL, NULL};
        for (uintptr_t back = 0; back < MEDIUM_PAGE_SLICES; back++) {
            uintptr_t page = slice - back * SLICE_SIZE;
            if (page < slice - (slice & (SEGMENT_SIZE - 1)) + SLICE_SIZE)
                break; /* before the segment's first page */
            rallo_extent extent;
            if (!block_in_page(p, page, size, MEDIUM_PAGE_SLICES * SLICE_SIZE, &extent))
                continue;
            if (found.start == NULL)
                found = extent;
            else if (found.start != extent.start)
                return RALLO_PLACE_UNKNOWN;
        }
        if (found.start == NULL)
            return RALLO_PLACE_UNKNOWN;
        *out = found;
        return place_of(p, out);
    }
    /* One block per page, starting at a slice boundary: p is inside unless it
     * is on one; readable at least to the end of p's slice. */
    out->start = (p & (SLICE_SIZE - 1)) == 0 ? (void *)p : NULL;
    out->end = (void *)(slice + SLICE_SIZE);
    return out->start != NULL ? RALLO_PLACE_START : RALLO_PLACE_INSIDE;
}

/* One block of the heap, as the layout must see it: its start is a start (or,
 * where the layout may not know, unknown), and pointers 16 bytes in and at its
 * last byte are never a start, nor inside another block. */
static bool block_seen_right(char *block, bool known) {
    rallo_extent extent;
    size_t size = mi_usable_size(block);
    rallo_place place = layout_place(block, &extent);
    if (place == RALLO_PLACE_INSIDE || (place == RALLO_PLACE_START && extent.start != block) ||
        (known && place != RALLO_PLACE_START))
        return false;
    rallo_place inside = layout_place(block + 16, &extent);
    if (inside == RALLO_PLACE_START ||
        (inside == RALLO_PLACE_INSIDE && extent.start != NULL && extent.start != block))
        return false;
    inside = layout_place(block + size - 1, &extent);
    return inside != RALLO_PLACE_START &&
           (inside != RALLO_PLACE_INSIDE || extent.start == NULL || extent.start == block);
}

/* LAYOUT_HOLDS or LAYOUT_FAILS, or LAYOUT_UNCHECKED if blocks to check
 * could not be had. */
static int layout_check(mi_heap_t *heap) {
    /* Small (with and without the page offset), medium (a size whose start
     * the layout always knows, and one it may not), large. */
    static const struct {
        size_t size;
        bool known;
    } sizes[] = {{32, true},    {48, true},     {1040, true},   {3000, true},  {16384, true},
                 {32768, true}, {40000, false}, {200000, true}, {600000, true}};
    enum { PER_SIZE = 3 };
    int state = LAYOUT_HOLDS;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && state == LAYOUT_HOLDS; i++) {
        char *blocks[PER_SIZE] = {NULL};
        for (int k = 0; k < PER_SIZE; k++) {
            blocks[k] = mi_heap_malloc(heap, sizes[i].size);
            if (blocks[k] == NULL)
                state = LAYOUT_UNCHECKED;
            else if (state == LAYOUT_HOLDS && !block_seen_right(blocks[k], sizes[i].known))
                state = LAYOUT_FAILS;
        }
        for (int k = 0; k < PER_SIZE; k++)
            mi_free(blocks[k]);
    }
    return state;
}

static bool layout_holds(void) {
    int state = atomic_load_explicit(&layout_state, memory_order_acquire);
    if (rallo_likely(state == LAYOUT_HOLDS))
        return true;
    if (state != LAYOUT_UNCHECKED ||
        !atomic_compare_exchange_strong_explicit(&layout_state, &state, LAYOUT_CHECKING, memory_order_acq_rel,
                                                 memory_order_acquire))
        return false; /* failed, or another thread checks it now */
    mi_heap_t *heap = _rallo_arena_heap();
    _rallo_guard_enter();
    state = heap != NULL ? layout_check(heap) : LAYOUT_UNCHECKED;
    _rallo_guard_leave();
    atomic_store_explicit(&layout_state, state, memory_order_release);
    if (state == LAYOUT_FAILS)
        _rallo_warn("mimalloc's block layout is not the one rallo knows: a bad free in the tracked arena "
                    "is dropped, never freed");
    return state == LAYOUT_HOLDS;
}

rallo_place _rallo_block_place(const void *p, rallo_extent *out) {
    out->start = out->end = NULL;
    if (!layout_holds())
        return RALLO_PLACE_UNKNOWN;
    return layout_place(p, out);
}

void _rallo_block_layout_atfork_child(void) {
    /* A check under way in the parent's other thread never ends here. */
    int checking = LAYOUT_CHECKING;
    atomic_compare_exchange_strong_explicit(&layout_state, &checking, LAYOUT_UNCHECKED, memory_order_relaxed,
                                            memory_order_relaxed);
}
