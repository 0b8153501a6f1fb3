/* unwind_fp.h - the frame-pointer walk and call-site capture, inline: they run
 * on every tracked allocation, and inlined into the tracked path they cost no
 * call, no frame of their own and one step less over librallo's own frames.
 * Every record read lies in [the starting frame, the stack's top), frames must
 * strictly increase, and depth is bounded, so garbage in rbp (code built
 * without frame pointers) ends a stack early instead of reading outside it;
 * the stack a site is recorded with also has every frame aligned and every
 * return address above 4096. unwind.c holds the rest: the stack bounds, the
 * full walk on a memo miss, the CFI path. */
#ifndef RALLO_UNWIND_FP_H
#define RALLO_UNWIND_FP_H

#include "../tracking.h"
#include "unwind.h"

/* librallo's own code (learned by _rallo_unwind_init): leading frames inside
 * it are the allocator's, not the program's, and never appear in a stack. */
extern uintptr_t _rallo_own_text_start rallo_internal, _rallo_own_text_end rallo_internal;
/* Once per thread: this thread's stack bounds into *thread (the main thread's
 * from the auxiliary vector when /proc is hidden). Bounds not found are left
 * as stack_lo = UINTPTR_MAX, stack_hi = 0, which no frame passes. */
void _rallo_stack_bounds_learn(rallo_thread_state *thread) rallo_internal;

/* Where this thread may read frame records: [stack_lo, *last_record]. The
 * highest start is checked rather than fp + 16 against the top, which garbage
 * near 2^64 would wrap. False when fp is not on this thread's own stack (a
 * signal stack, a coroutine): no stack rather than a guess. */
static inline bool _rallo_fp_start(uintptr_t fp, uintptr_t *last_record) {
    rallo_thread_state *thread = &_rallo_thread;
    if (rallo_unlikely(!thread->stack_known))
        _rallo_stack_bounds_learn(thread);
    *last_record = thread->stack_hi - 2 * sizeof(uintptr_t);
    return fp >= thread->stack_lo && fp <= *last_record && (fp & (sizeof(uintptr_t) - 1)) == 0;
}

/* One frame of the quick walk: hashes the return address of the record at *fp
 * into *hash and steps *fp to the next record; false when that next record
 * is not above this one or lies past last_record (the walk ends there). A
 * record may be misaligned here (garbage rbp; the full walk stops at one):
 * memcpy reads it without undefined behaviour, as one mov. */
static inline bool _rallo_fp_quick_step(uintptr_t *fp, uintptr_t last_record, uint64_t *hash) {
    uintptr_t next, pc;
    __builtin_memcpy(&next, (const void *)*fp, sizeof next);
    __builtin_memcpy(&pc, (const void *)(*fp + sizeof next), sizeof pc);
    *hash = _rallo_stack_hash_step(*hash, pc);
    if (rallo_unlikely(next <= *fp) || rallo_unlikely(next > last_record))
        return false;
    *fp = next;
    return true;
}

/* The quick walk: the records the full walk would read, with only the checks
 * that keep every read inside the stack and the walk finite (each next record
 * above the last, none past last_record), hashing return addresses and storing
 * none. Its hash keys this thread's memo of sites; only when the memo misses
 * does the full walk (unwind.c) run, with every check (alignment, return
 * addresses below 4096), to find the stack the depot keeps. Both walks read
 * the same memory, so a quick hash seen before maps to the same full stack
 * again (up to the memo's trust in 64-bit hashes).
 * Two frames a turn, into two hashes: the loop's count is tested once a pair,
 * and the two multiply chains run side by side, so the walk waits only on its
 * loads (each record's address is the previous record's first word). */
static inline uint64_t _rallo_fp_walk_quick(uintptr_t fp, uintptr_t last_record, uint32_t max) {
    uint64_t even_hash = RALLO_STACK_HASH_SEED, odd_hash = 0;
    uint32_t pairs_left = max / 2;
    bool more = true;
    if ((max & 1) != 0)
        more = _rallo_fp_quick_step(&fp, last_record, &even_hash);
    while (more && pairs_left != 0) {
        if (!_rallo_fp_quick_step(&fp, last_record, &odd_hash))
            break;
        more = _rallo_fp_quick_step(&fp, last_record, &even_hash);
        pairs_left--;
    }
    /* Each hash is a polynomial in the step's multiplier K, one power of K a
     * frame; the even frames' powers run from K^1 up to K^64 at most (a stack
     * has at most RALLO_MAX_DEPTH = 128 frames), so the odd ones are lifted
     * by K^64 to powers of their own. With a power shared, two stacks whose
     * frames differ by +d and -d there (two call sites apart by the same
     * distance in two functions) would collide. Unfinished: the memo needs
     * no finish (_rallo_memo_entry); the depth is in it already. */
    return even_hash + odd_hash * RALLO_STACK_HASH_K64;
}

/* Steps *fp (a record _rallo_fp_start accepted) over librallo's own frame
 * records to the first whose return address lies outside librallo; false when
 * the chain leaves the stack, stops increasing or is still inside librallo
 * after max_own steps. */
static inline bool _rallo_own_frames_skip(uintptr_t *fp, uintptr_t last_record, int max_own) {
    uintptr_t at = *fp;
    for (int own = 0;; own++) {
        const uintptr_t *record = (const uintptr_t *)at;
        uintptr_t next = record[0];
        if (record[1] - _rallo_own_text_start >= _rallo_own_text_end - _rallo_own_text_start) {
            *fp = at;
            return true;
        }
        if (own == max_own || next <= at || (next & (sizeof(uintptr_t) - 1)) != 0 || next > last_record)
            return false;
        at = next;
    }
}

/* The memo missed: the full walk from the program's first frame at fp (fp
 * mode: checked frame records; auto: frame records where the code keeps
 * them, call-frame information from the first that does not), the depot, and
 * the memo entry (if any) filled under the quick hash where the stack follows
 * from the return addresses it hashed (unwind.c). */
rallo_site_ref _rallo_capture_fp_miss(uintptr_t fp, uintptr_t last_record, uint32_t keep,
                                      rallo_memo_entry *entry, uint64_t quick_hash) rallo_internal;

/* The call site of the allocation whose rallo frame is at fp: librallo's own
 * records are stepped over, then the program's frames are walked once quickly
 * and looked up in this thread's memo. */
static inline rallo_site_ref _rallo_capture_fp(uintptr_t fp, uint32_t keep) {
    static const uintptr_t no_frames[1] = {0};
    uintptr_t last_record;
    rallo_site_ref none = {.site_id = 0, .memo_entry = NULL};
    if (rallo_unlikely(!_rallo_fp_start(fp, &last_record)))
        goto no_stack;
    if (rallo_unlikely(!_rallo_own_frames_skip(&fp, last_record, 8)))
        goto no_stack;
    uint64_t quick_hash = _rallo_fp_walk_quick(fp, last_record, keep);
    rallo_memo_entry *entry = _rallo_memo_entry(quick_hash);
    uint32_t site_id = _rallo_memo_hit(entry, quick_hash);
    if (rallo_likely(site_id != 0))
        return (rallo_site_ref){.site_id = site_id, .memo_entry = entry};
    return _rallo_capture_fp_miss(fp, last_record, keep, entry, quick_hash);
no_stack:
    none.site_id = _rallo_site_of_stack(no_frames, 0, _rallo_stack_hash_finish(RALLO_STACK_HASH_SEED, 0));
    return none;
}

/* The call site of the allocation being tracked, from inside librallo's tracked
 * path (always inlined there: the frame it starts from is its caller's). fp
 * and auto share the quick walk and its memo; they differ on a miss. */
static inline __attribute__((always_inline)) rallo_site_ref _rallo_capture_site_here(void) {
    if (rallo_likely(_rallo_options.unwind != RALLO_UNWIND_DWARF))
        return _rallo_capture_fp((uintptr_t)__builtin_frame_address(0), _rallo_options.depth);
    return (rallo_site_ref){.site_id = _rallo_capture_site(), .memo_entry = NULL};
}

#endif
